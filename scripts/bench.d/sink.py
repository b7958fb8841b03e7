"""A webhook receiver for scripts/bench: answers every request 200 at once (raw ASGI on uvicorn,
no framework), so that delivery is measured against a receiver that costs next to nothing."""
import sys

import uvicorn


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while True:
        message = await receive()
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)

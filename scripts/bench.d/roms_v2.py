"""A stand-in for the receiver seed 001's team built (ROMS V2: FastAPI + SQLite), used only as
the baseline of scripts/bench-ingest. It does what that document describes for each webhook:
parse the JSON, map the field aliases, upsert the order by order_number, write a webhook_logs row,
commit, and answer the seed's success body. Run: python3 roms_v2.py DB PORT
"""
import json
import sqlite3
import sys
import threading

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

ALIASES = {
    "product": ["product", "product_name", "item"],
    "price": ["price", "unit_price"],
    "total": ["total", "total_price", "amount"],
    "commission": ["commission", "profit"],
    "quantity": ["quantity", "qty"],
    "email": ["email", "customer_email"],
    "customer_name": ["customer_name", "name"],
    "status": ["status", "order_status"],
}

db_path, port = sys.argv[1], int(sys.argv[2])
local = threading.local()


def connection():
    if not hasattr(local, "conn"):
        local.conn = sqlite3.connect(db_path, timeout=30)
    return local.conn


setup = sqlite3.connect(db_path)
setup.executescript(
    """CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, order_number TEXT UNIQUE,
       product TEXT, price REAL, total REAL, commission REAL, quantity INTEGER, email TEXT,
       customer_name TEXT, status TEXT, created_at TEXT DEFAULT CURRENT_TIMESTAMP);
       CREATE TABLE IF NOT EXISTS webhook_logs (id INTEGER PRIMARY KEY, payload TEXT,
       status TEXT, created_at TEXT DEFAULT CURRENT_TIMESTAMP);"""
)
setup.close()
app = FastAPI()


@app.post("/api/v2/webhooks/orders")
async def orders(request: Request):
    try:
        body = json.loads(await request.body())
    except ValueError:
        return JSONResponse({"detail": "Invalid JSON"}, status_code=400)
    number = body.get("order_number")
    if number in (None, ""):
        return JSONResponse({"detail": "order_number is required"}, status_code=400)
    fields = {}
    for column, names in ALIASES.items():
        for name in names:
            if name in body:
                fields[column] = body[name]
                break
    conn = connection()
    row = conn.execute("SELECT id FROM orders WHERE order_number = ?", (str(number),)).fetchone()
    if row is None:
        columns = ["order_number"] + list(fields)
        cur = conn.execute(
            f"INSERT INTO orders ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [str(number)] + list(fields.values()),
        )
        order_id = cur.lastrowid
    else:
        order_id = row[0]
        if fields:
            sets = ", ".join(f"{c} = ?" for c in fields)
            conn.execute(f"UPDATE orders SET {sets} WHERE id = ?", list(fields.values()) + [order_id])
    conn.execute("INSERT INTO webhook_logs (payload, status) VALUES (?, 'processed')", (json.dumps(body),))
    conn.commit()
    return {
        "success": True,
        "message": "Order received and processed successfully",
        "order_id": order_id,
        "order_number": str(number),
    }


uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")

//! The Prometheus registry behind `GET /metrics`: ingest figures (events appended, batch sizes,
//! commit latency, requests by outcome), seed 004's delivery metrics (fed by the delivery worker
//! through [`outbound::Observer`]) and the outbound backlog gauges.

use prometheus::{
    exponential_buckets, Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// Every metric hookledger exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub events_appended: IntCounter,
    pub head_seq: IntGauge,
    pub batch_jobs: Histogram,
    pub commit_seconds: Histogram,
    pub requests: IntCounterVec,
    pub request_seconds: HistogramVec,
    pub request_log_dropped: IntGauge,
    /// Writes refused by the disk, by fault (`disk_full`, `read_only`, `io_error`, `unavailable`).
    pub storage_faults: IntCounterVec,
    pub deliveries: IntCounterVec,
    pub delivery_seconds: HistogramVec,
    pub retries: IntCounterVec,
    pub outbox_backlog: IntGauge,
    pub outbox_oldest_pending_seconds: Gauge,
    /// The `tenant_id` label of the delivery metrics.
    tenant: String,
}

fn must<T>(metric: Result<T, prometheus::Error>) -> T {
    // Metric definitions are constants: an error here is a programming mistake caught by tests.
    metric.unwrap_or_else(|e| panic!("invalid metric definition: {e}"))
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let events_appended = must(IntCounter::new(
            "hookledger_events_appended_total",
            "Events appended to the log.",
        ));
        let head_seq = must(IntGauge::new("hookledger_head_seq", "The log's last seq."));
        let batch_jobs = must(Histogram::with_opts(
            HistogramOpts::new(
                "hookledger_writer_batch_jobs",
                "Jobs committed per writer batch (group commit).",
            )
            .buckets(exponential_buckets(1.0, 2.0, 10).unwrap_or_default()),
        ));
        let commit_seconds = must(Histogram::with_opts(
            HistogramOpts::new(
                "hookledger_writer_commit_seconds",
                "Time from a batch's BEGIN to the end of its COMMIT.",
            )
            .buckets(exponential_buckets(0.0001, 2.0, 14).unwrap_or_default()),
        ));
        let requests = must(IntCounterVec::new(
            Opts::new(
                "hookledger_requests_total",
                "Inbound webhook requests by outcome.",
            ),
            &["source", "outcome"],
        ));
        let request_seconds = must(HistogramVec::new(
            HistogramOpts::new(
                "hookledger_request_seconds",
                "Inbound webhook latency, from receipt to answer (append latency included).",
            )
            .buckets(exponential_buckets(0.0001, 2.0, 16).unwrap_or_default()),
            &["source"],
        ));
        let request_log_dropped = must(IntGauge::new(
            "hookledger_request_log_dropped",
            "Request-log entries dropped because its queue was full.",
        ));
        let storage_faults = must(IntCounterVec::new(
            Opts::new(
                "hookledger_storage_faults_total",
                "Writes the disk refused (answered 503), by fault.",
            ),
            &["fault"],
        ));
        let deliveries = must(IntCounterVec::new(
            Opts::new(
                "webhook_deliveries_total",
                "Outbound webhook deliveries by final status.",
            ),
            &["event", "status", "tenant_id"],
        ));
        let delivery_seconds = must(HistogramVec::new(
            HistogramOpts::new(
                "webhook_delivery_duration_seconds",
                "Duration of outbound delivery attempts.",
            ),
            &["event", "tenant_id"],
        ));
        let retries = must(IntCounterVec::new(
            Opts::new(
                "webhook_retries_total",
                "Outbound delivery retries by reason.",
            ),
            &["event", "reason", "tenant_id"],
        ));
        let outbox_backlog = must(IntGauge::new(
            "hookledger_outbox_backlog",
            "Outbound work not yet settled: pending deliveries plus outbox rows not yet expanded.",
        ));
        let outbox_oldest_pending_seconds = must(Gauge::new(
            "hookledger_outbox_oldest_pending_seconds",
            "Age of the oldest pending delivery (or unexpanded outbox row); 0 when none.",
        ));
        for collector in [
            Box::new(events_appended.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(head_seq.clone()),
            Box::new(batch_jobs.clone()),
            Box::new(commit_seconds.clone()),
            Box::new(requests.clone()),
            Box::new(request_seconds.clone()),
            Box::new(request_log_dropped.clone()),
            Box::new(storage_faults.clone()),
            Box::new(deliveries.clone()),
            Box::new(delivery_seconds.clone()),
            Box::new(retries.clone()),
            Box::new(outbox_backlog.clone()),
            Box::new(outbox_oldest_pending_seconds.clone()),
        ] {
            must(registry.register(collector));
        }
        Metrics {
            registry,
            events_appended,
            head_seq,
            batch_jobs,
            commit_seconds,
            requests,
            request_seconds,
            request_log_dropped,
            storage_faults,
            deliveries,
            delivery_seconds,
            retries,
            outbox_backlog,
            outbox_oldest_pending_seconds,
            tenant: outbound::default_tenant(),
        }
    }

    /// The writer's observer: called after each committed batch.
    pub fn writer_observer(&self) -> store::writer::Observer {
        let metrics = self.clone();
        std::sync::Arc::new(move |report: &store::BatchReport, _events| {
            metrics
                .events_appended
                .inc_by(report.events_appended as u64);
            metrics.head_seq.set(report.head_seq as i64);
            metrics.batch_jobs.observe(report.jobs as f64);
            metrics
                .commit_seconds
                .observe(report.commit_duration.as_secs_f64());
        })
    }

    /// [`Metrics::writer_observer`], and then a ping of `wake` (the delivery worker's).
    pub fn writer_observer_waking(
        &self,
        wake: std::sync::Arc<tokio::sync::Notify>,
    ) -> store::writer::Observer {
        let observe = self.writer_observer();
        std::sync::Arc::new(move |report: &store::BatchReport, events| {
            observe(report, events);
            wake.notify_one();
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}

impl outbound::Observer for Metrics {
    fn attempted(&self, event: &str, duration: std::time::Duration) {
        self.delivery_seconds
            .with_label_values(&[event, &self.tenant])
            .observe(duration.as_secs_f64());
    }

    fn settled(&self, event: &str, status: &str) {
        self.deliveries
            .with_label_values(&[event, status, &self.tenant])
            .inc();
    }

    fn retrying(&self, event: &str, reason: &str) {
        self.retries
            .with_label_values(&[event, reason, &self.tenant])
            .inc();
    }

    fn backlog(&self, pending: u64, oldest_age: std::time::Duration) {
        self.outbox_backlog.set(pending as i64);
        self.outbox_oldest_pending_seconds
            .set(oldest_age.as_secs_f64());
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

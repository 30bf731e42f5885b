/**
 * Every metric fieldgate exports, in one place. Names follow
 * fieldgate_<area>_<noun>_<unit>[_total]; labels are bounded (component,
 * configured names, table, reason): never a topic, node id or register.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export function createMetrics(registry: Registry = new Registry(), withProcess = true) {
  if (withProcess) collectDefaultMetrics({ register: registry, prefix: 'fieldgate_' });
  const r = [registry];
  return {
    registry,
    // journal
    journalAppendedRecords: new Counter({
      name: 'fieldgate_journal_appended_records_total',
      help: 'Records appended to the journal, by kind.',
      labelNames: ['kind'],
      registers: r,
    }),
    journalCommits: new Counter({
      name: 'fieldgate_journal_commits_total',
      help: 'Group commits written (and fdatasync-ed, unless fsync is never).',
      registers: r,
    }),
    journalCommitSeconds: new Histogram({
      name: 'fieldgate_journal_commit_seconds',
      help: 'Time to write and sync one group commit.',
      buckets: LATENCY_BUCKETS,
      registers: r,
    }),
    journalWriteErrors: new Counter({
      name: 'fieldgate_journal_write_errors_total',
      help: 'Failed journal writes or syncs (retried; acceptance waits meanwhile).',
      registers: r,
    }),
    journalBytes: new Gauge({ name: 'fieldgate_journal_bytes', help: 'Bytes held in journal segments.', registers: r }),
    journalSegments: new Gauge({ name: 'fieldgate_journal_segments', help: 'Journal segment files.', registers: r }),
    journalDroppedRecords: new Counter({
      name: 'fieldgate_journal_dropped_records_total',
      help: 'Records dropped unsent because the journal was full (on_full: drop_oldest) or corrupt.',
      labelNames: ['reason'],
      registers: r,
    }),
    journalBlocked: new Gauge({ name: 'fieldgate_journal_blocked', help: '1 while a full journal withholds acceptance (on_full: block).', registers: r }),
    journalChunks: new Counter({ name: 'fieldgate_journal_chunks_sealed_total', help: 'Chunks cut by the sealer.', registers: r }),
    journalDamagedBytes: new Counter({
      name: 'fieldgate_journal_damaged_bytes_total',
      help: 'Bytes of damaged frames found inside the journal (a bad sector, a flipped bit), skipped to the next intact frame.',
      registers: r,
    }),
    journalTornBytes: new Counter({ name: 'fieldgate_journal_truncated_bytes_total', help: 'Bytes of a torn tail truncated at recovery.', registers: r }),
    diskFreeBytes: new Gauge({ name: 'fieldgate_disk_free_bytes', help: "Free bytes on state_dir's filesystem (for unprivileged users).", registers: r }),
    diskLow: new Gauge({
      name: 'fieldgate_disk_low',
      help: '1 while free space is below journal.min_free_bytes: the journal does not grow and the embedded store pauses.',
      registers: r,
    }),
    journalCursorErrors: new Counter({
      name: 'fieldgate_journal_cursor_write_errors_total',
      help: 'Failed cursor writes (retried with backoff; the sink waits meanwhile).',
      labelNames: ['sink'],
      registers: r,
    }),
    loopLastProgress: new Gauge({
      name: 'fieldgate_loop_last_progress_timestamp_seconds',
      help: 'When each loop (journal commits, sinks, Modbus endpoints, OPC UA servers) last made progress (Unix time).',
      labelNames: ['loop'],
      registers: r,
    }),
    loopStalled: new Gauge({
      name: 'fieldgate_loop_stalled',
      help: '1 while a loop has work and has made no progress for longer than its limit (/readyz names it).',
      labelNames: ['loop'],
      registers: r,
    }),
    sinkLagBytes: new Gauge({ name: 'fieldgate_sink_lag_bytes', help: 'Journal bytes a sink has not yet acknowledged.', labelNames: ['sink'], registers: r }),
    sinkLagChunks: new Gauge({ name: 'fieldgate_sink_lag_chunks', help: 'Sealed chunks a sink has not yet acknowledged.', labelNames: ['sink'], registers: r }),
    sinkLagSeconds: new Gauge({
      name: 'fieldgate_sink_lag_seconds',
      help: 'How long the oldest record a sink has not stored has waited (publish to queryable, as it stands now).',
      labelNames: ['sink'],
      registers: r,
    }),
    brokerLeanPublishes: new Counter({
      name: 'fieldgate_broker_lean_publishes_total',
      help: 'QoS 0/1 PUBLISHes that no subscriber could receive, journaled straight from the parsed packet (the rest of aedes’s publish path skipped).',
      registers: r,
    }),
    brokerPushback: new Gauge({
      name: 'fieldgate_broker_pushback',
      help: '1 while MQTT acknowledgements are withheld because a sink is more than batch.max_lag behind and falling further behind.',
      registers: r,
    }),
    brokerPushbackSeconds: new Counter({
      name: 'fieldgate_broker_pushback_seconds_total',
      help: 'Time MQTT publishers were held back by batch.max_lag.',
      registers: r,
    }),
    // ingest
    mqttMessagesIn: new Counter({
      name: 'fieldgate_mqtt_messages_received_total',
      help: 'MQTT PUBLISH packets accepted into the journal, by QoS.',
      labelNames: ['qos'],
      registers: r,
    }),
    mqttBytesIn: new Counter({ name: 'fieldgate_mqtt_received_bytes_total', help: 'MQTT payload bytes accepted into the journal.', registers: r }),
    mqttMessagesOut: new Counter({
      name: 'fieldgate_mqtt_messages_sent_total',
      help: 'MQTT messages delivered to subscribers, by the QoS they were published with.',
      labelNames: ['qos'],
      registers: r,
    }),
    mqttBytesOut: new Counter({ name: 'fieldgate_mqtt_sent_bytes_total', help: 'MQTT payload bytes delivered to subscribers.', registers: r }),
    brokerClients: new Gauge({ name: 'fieldgate_broker_clients', help: 'MQTT clients connected.', registers: r }),
    brokerConnects: new Counter({ name: 'fieldgate_broker_connects_total', help: 'MQTT client connections accepted.', registers: r }),
    brokerDisconnects: new Counter({
      name: 'fieldgate_broker_disconnects_total',
      help: 'MQTT client disconnections, by reason (disconnect, error, keepalive, slow_consumer, packet_too_large).',
      labelNames: ['reason'],
      registers: r,
    }),
    brokerFloodDrops: new Counter({
      name: 'fieldgate_broker_flood_drops_total',
      help: 'What a flood cost: slow_consumer counts deliveries dropped with a subscriber that did not drain within limits.slow_consumer_timeout (it is disconnected); unsent_limit counts QoS 0 deliveries dropped for a subscriber with more than limits.max_unsent unsent; queue_limit and packet_too_large count clients dropped for sending too much.',
      labelNames: ['reason'],
      registers: r,
    }),
    brokerAuthFailures: new Counter({
      name: 'fieldgate_broker_auth_failures_total',
      help: 'Connections refused at CONNECT, by reason (bad_credentials, anonymous, rate_limited, identifier, max_connections).',
      labelNames: ['reason'],
      registers: r,
    }),
    brokerPersistedSessions: new Gauge({
      name: 'fieldgate_broker_persisted_sessions',
      help: 'Offline clean-session-false clients whose subscriptions and queued messages are kept (counted every 30 s).',
      registers: r,
    }),
    brokerRetained: new Gauge({ name: 'fieldgate_broker_retained_messages', help: 'Retained messages held (counted every 30 s).', registers: r }),
    brokerAclDenied: new Counter({
      name: 'fieldgate_broker_acl_denied_total',
      help: 'Publishes dropped and subscriptions refused by the ACL.',
      labelNames: ['action'],
      registers: r,
    }),
    sparkplugBirths: new Counter({
      name: 'fieldgate_sparkplug_births_total',
      help: 'Sparkplug B NBIRTH and DBIRTH messages received.',
      labelNames: ['type'],
      registers: r,
    }),
    sparkplugSeqGaps: new Counter({
      name: 'fieldgate_sparkplug_sequence_gaps_total',
      help: 'Sparkplug B messages whose seq did not follow the previous one of their edge node.',
      registers: r,
    }),
    sparkplugRebirths: new Counter({
      name: 'fieldgate_sparkplug_rebirth_requests_total',
      help: 'Rebirth requests (NCMD Node Control/Rebirth) sent, by reason (no_birth, seq_gap).',
      labelNames: ['reason'],
      registers: r,
    }),
    // decode (counted on the main thread from worker results)
    pointsDecoded: new Counter({
      name: 'fieldgate_points_decoded_total',
      help: 'Values decoded from journal records into rows.',
      labelNames: ['table'],
      registers: r,
    }),
    recordsRejected: new Counter({
      name: 'fieldgate_records_rejected_total',
      help: 'Records or values that could not be decoded, by reason.',
      labelNames: ['reason'],
      registers: r,
    }),
    timestampsReplaced: new Counter({
      name: 'fieldgate_timestamps_replaced_total',
      help: 'Values whose timestamp was missing or outside [now - max_past, now + max_future] and took the receive time.',
      labelNames: ['reason'],
      registers: r,
    }),
    workerBusy: new Gauge({ name: 'fieldgate_worker_pool_utilization', help: 'Share of the worker pool busy (0..1).', registers: r }),
    workerQueue: new Gauge({ name: 'fieldgate_worker_pool_queue', help: 'Chunks waiting for a worker.', registers: r }),
    encodeSeconds: new Histogram({
      name: 'fieldgate_worker_encode_seconds',
      help: 'Time to decode and encode one chunk on a worker.',
      buckets: LATENCY_BUCKETS,
      registers: r,
    }),
    // sinks
    sinkRowsInserted: new Counter({
      name: 'fieldgate_sink_rows_inserted_total',
      help: 'Rows inserted (acknowledged by the store).',
      labelNames: ['sink', 'table'],
      registers: r,
    }),
    sinkInserts: new Counter({ name: 'fieldgate_sink_inserts_total', help: 'Insert requests, by outcome.', labelNames: ['sink', 'outcome'], registers: r }),
    sinkInsertSeconds: new Histogram({
      name: 'fieldgate_sink_insert_seconds',
      help: 'Insert request latency.',
      labelNames: ['sink'],
      buckets: LATENCY_BUCKETS,
      registers: r,
    }),
    sinkRetries: new Counter({ name: 'fieldgate_sink_retries_total', help: 'Insert retries, by error class.', labelNames: ['sink', 'reason'], registers: r }),
    sinkDeadLetterRows: new Counter({
      name: 'fieldgate_sink_dead_letter_rows_total',
      help: 'Rows the store rejected, written to the dead-letter folder.',
      labelNames: ['sink', 'table'],
      registers: r,
    }),
    sinkUp: new Gauge({ name: 'fieldgate_sink_up', help: '1 when the last request to the sink succeeded.', labelNames: ['sink'], registers: r }),
    sinkReplicaUp: new Gauge({
      name: 'fieldgate_sink_replica_up',
      help: 'Per server of a sink with urls: 1 when its last request succeeded, 0 while it rests after a refusal or timeout (inserts go to the next replica of its shard).',
      labelNames: ['sink', 'url', 'shard'],
      registers: r,
    }),
    sinkFailovers: new Counter({
      name: 'fieldgate_sink_failovers_total',
      help: 'Requests sent to another replica because one refused or timed out.',
      labelNames: ['sink'],
      registers: r,
    }),
    endToEndSeconds: new Histogram({
      name: 'fieldgate_end_to_end_seconds',
      help: 'Receive to acknowledged insert, observed for the oldest and newest record of each chunk.',
      labelNames: ['sink'],
      buckets: LATENCY_BUCKETS,
      registers: r,
    }),
    // modbus (label: the device name as configured)
    modbusRequests: new Counter({ name: 'fieldgate_modbus_requests_total', help: 'Modbus read requests sent.', labelNames: ['device'], registers: r }),
    modbusErrors: new Counter({
      name: 'fieldgate_modbus_errors_total',
      help: 'Modbus failures: the exception code (2 illegal address, 10/11 gateway …), timeout, or connection.',
      labelNames: ['device', 'code'],
      registers: r,
    }),
    modbusPollSeconds: new Histogram({
      name: 'fieldgate_modbus_poll_seconds',
      help: 'Time to read one poll group of a device.',
      labelNames: ['device'],
      buckets: LATENCY_BUCKETS,
      registers: r,
    }),
    modbusLastSuccess: new Gauge({
      name: 'fieldgate_modbus_last_success_timestamp_seconds',
      help: 'When a poll of the device last succeeded (Unix time).',
      labelNames: ['device'],
      registers: r,
    }),
    modbusConnected: new Gauge({
      name: 'fieldgate_modbus_connected',
      help: '1 while the connection to the device is open.',
      labelNames: ['device'],
      registers: r,
    }),
    modbusPoints: new Counter({
      name: 'fieldgate_modbus_points_total',
      help: 'Values written to the journal (changes, heartbeats and quality transitions).',
      labelNames: ['device'],
      registers: r,
    }),
    modbusSkipped: new Counter({
      name: 'fieldgate_modbus_polls_skipped_total',
      help: 'Poll cycles skipped because the previous ones ran late.',
      labelNames: ['device'],
      registers: r,
    }),
    // opcua (label: the server name as configured)
    opcuaSessionUp: new Gauge({
      name: 'fieldgate_opcua_session_up',
      help: '1 while the session and its subscription are alive.',
      labelNames: ['server'],
      registers: r,
    }),
    opcuaReconnects: new Counter({
      name: 'fieldgate_opcua_reconnects_total',
      help: 'Sessions re-created after a connection loss, a server restart or a lost subscription.',
      labelNames: ['server'],
      registers: r,
    }),
    opcuaSubscriptionsRecreated: new Counter({
      name: 'fieldgate_opcua_subscriptions_recreated_total',
      help: 'Subscriptions re-created on a live session (the server dropped one, or it fell silent).',
      labelNames: ['server'],
      registers: r,
    }),
    opcuaNotifications: new Counter({
      name: 'fieldgate_opcua_notifications_total',
      help: 'Values received from the server (data change notifications and polled reads).',
      labelNames: ['server'],
      registers: r,
    }),
    opcuaBadStatuses: new Counter({
      name: 'fieldgate_opcua_bad_status_total',
      help: 'Values received with a Bad status code.',
      labelNames: ['server'],
      registers: r,
    }),
    opcuaPoints: new Counter({
      name: 'fieldgate_opcua_points_total',
      help: 'Values written to the journal (after the deadband).',
      labelNames: ['server'],
      registers: r,
    }),
    opcuaSkipped: new Counter({
      name: 'fieldgate_opcua_values_skipped_total',
      help: 'Values not written because the journal withheld acceptance (on_full: block, a low disk, commits failing).',
      labelNames: ['server'],
      registers: r,
    }),
    opcuaMonitoredItems: new Gauge({
      name: 'fieldgate_opcua_monitored_items',
      help: 'Monitored items the server accepted.',
      labelNames: ['server'],
      registers: r,
    }),
    opcuaNodeErrors: new Gauge({
      name: 'fieldgate_opcua_node_errors',
      help: 'Configured nodes that could not be resolved or monitored (unknown node id or browse path, refused by the server).',
      labelNames: ['server'],
      registers: r,
    }),
    opcuaErrors: new Counter({
      name: 'fieldgate_opcua_errors_total',
      help: 'Failed connects, sessions and requests, by reason.',
      labelNames: ['server', 'reason'],
      registers: r,
    }),
    opcuaPublishLatency: new Histogram({
      name: 'fieldgate_opcua_publish_latency_seconds',
      help: "From the server's publish time of a notification to its arrival.",
      labelNames: ['server'],
      buckets: LATENCY_BUCKETS,
      registers: r,
    }),
    // partners (label: the partner name as configured)
    partnerConnected: new Gauge({
      name: 'fieldgate_partner_connected',
      help: '1 while the link to the partner (its broker; for a webhook, the last POST) is up.',
      labelNames: ['partner'],
      registers: r,
    }),
    partnerSentMessages: new Counter({
      name: 'fieldgate_partner_sent_messages_total',
      help: 'Messages the partner acknowledged (PUBACK, 2xx).',
      labelNames: ['partner'],
      registers: r,
    }),
    partnerSentValues: new Counter({
      name: 'fieldgate_partner_sent_values_total',
      help: 'Values (or intervals) sent and acknowledged.',
      labelNames: ['partner'],
      registers: r,
    }),
    partnerSentBytes: new Counter({
      name: 'fieldgate_partner_sent_bytes_total',
      help: 'Payload bytes sent and acknowledged.',
      labelNames: ['partner'],
      registers: r,
    }),
    partnerReceivedMessages: new Counter({
      name: 'fieldgate_partner_received_messages_total',
      help: 'Messages taken from the partner into the journal.',
      labelNames: ['partner'],
      registers: r,
    }),
    partnerReceivedBytes: new Counter({
      name: 'fieldgate_partner_received_bytes_total',
      help: 'Payload bytes taken from the partner.',
      labelNames: ['partner'],
      registers: r,
    }),
    partnerBacklogRecords: new Gauge({
      name: 'fieldgate_partner_backlog_records',
      help: 'Journal records not yet sent to the partner (selected or not).',
      labelNames: ['partner'],
      registers: r,
    }),
    partnerBacklogSeconds: new Gauge({
      name: 'fieldgate_partner_backlog_seconds',
      help: 'Age of the oldest value not yet sent to the partner (0 when caught up).',
      labelNames: ['partner'],
      registers: r,
    }),
    partnerAckSeconds: new Histogram({
      name: 'fieldgate_partner_ack_seconds',
      help: "From sending a chunk's messages to the partner's last acknowledgement.",
      labelNames: ['partner'],
      buckets: LATENCY_BUCKETS,
      registers: r,
    }),
    partnerErrors: new Counter({
      name: 'fieldgate_partner_errors_total',
      help: 'Failed connections and sends, by reason (connect, tls, auth, closed, timeout, http_5xx, http_429, rejected …).',
      labelNames: ['partner', 'reason'],
      registers: r,
    }),
    partnerDropped: new Counter({
      name: 'fieldgate_partner_dropped_records_total',
      help: 'Records dropped by a full journal (on_full: drop_oldest) before they were sent to the partner.',
      labelNames: ['partner'],
      registers: r,
    }),
    partnerDeadLetters: new Counter({
      name: 'fieldgate_partner_dead_letter_messages_total',
      help: 'Messages the partner refused for good (a webhook 4xx), written to state_dir/deadletter/partners/<name>.jsonl.',
      labelNames: ['partner'],
      registers: r,
    }),
    // queries through the gateway
    fdUsage: new Gauge({ name: 'fieldgate_fd_usage_ratio', help: "Share of the process's file descriptor limit in use (checked every 2 s).", registers: r }),
    fdExhausted: new Counter({
      name: 'fieldgate_fd_exhausted_total',
      help: 'Checks that found 95 % or more of the file descriptor limit in use (new connections are then dropped).',
      registers: r,
    }),
    connectionsRefused: new Counter({
      name: 'fieldgate_connections_refused_total',
      help: 'Connections refused or not accepted, by listener (http, broker:<type>) and reason (max_connections, no_file_descriptors, accept_error).',
      labelNames: ['listener', 'reason'],
      registers: r,
    }),
    queries: new Counter({ name: 'fieldgate_queries_total', help: 'Queries run through the gateway, by outcome.', labelNames: ['outcome'], registers: r }),
    querySeconds: new Histogram({ name: 'fieldgate_query_seconds', help: 'Query duration through the gateway.', buckets: LATENCY_BUCKETS, registers: r }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** The names the list promises; a test checks each is exported after a run. */
export const PROMISED_METRICS = [
  'fieldgate_journal_appended_records_total',
  'fieldgate_journal_commits_total',
  'fieldgate_journal_commit_seconds',
  'fieldgate_journal_bytes',
  'fieldgate_journal_chunks_sealed_total',
  'fieldgate_sink_lag_bytes',
  'fieldgate_sink_lag_seconds',
  'fieldgate_mqtt_messages_received_total',
  'fieldgate_broker_clients',
  'fieldgate_points_decoded_total',
  'fieldgate_sink_rows_inserted_total',
  'fieldgate_sink_insert_seconds',
  'fieldgate_sink_up',
  'fieldgate_end_to_end_seconds',
  'fieldgate_worker_encode_seconds',
  'fieldgate_process_resident_memory_bytes',
  'fieldgate_loop_last_progress_timestamp_seconds',
  'fieldgate_loop_stalled',
] as const;

/** What a gateway with partners exports besides. */
export const PROMISED_PARTNER_METRICS = [
  'fieldgate_partner_connected',
  'fieldgate_partner_sent_messages_total',
  'fieldgate_partner_sent_values_total',
  'fieldgate_partner_sent_bytes_total',
  'fieldgate_partner_received_messages_total',
  'fieldgate_partner_backlog_records',
  'fieldgate_partner_backlog_seconds',
  'fieldgate_partner_ack_seconds',
] as const;

/** What a gateway polling Modbus devices exports besides. */
export const PROMISED_MODBUS_METRICS = [
  'fieldgate_modbus_requests_total',
  'fieldgate_modbus_errors_total',
  'fieldgate_modbus_poll_seconds',
  'fieldgate_modbus_last_success_timestamp_seconds',
  'fieldgate_modbus_connected',
  'fieldgate_modbus_points_total',
] as const;

/** What a gateway subscribed to OPC UA servers exports besides. */
export const PROMISED_OPCUA_METRICS = [
  'fieldgate_opcua_session_up',
  'fieldgate_opcua_reconnects_total',
  'fieldgate_opcua_notifications_total',
  'fieldgate_opcua_bad_status_total',
  'fieldgate_opcua_monitored_items',
  'fieldgate_opcua_publish_latency_seconds',
  'fieldgate_opcua_points_total',
] as const;

/** What the broker exports (checked after the broker security test). */
export const PROMISED_BROKER_METRICS = [
  'fieldgate_broker_clients',
  'fieldgate_broker_connects_total',
  'fieldgate_broker_disconnects_total',
  'fieldgate_broker_auth_failures_total',
  'fieldgate_broker_acl_denied_total',
  'fieldgate_broker_flood_drops_total',
  'fieldgate_mqtt_messages_received_total',
  'fieldgate_mqtt_received_bytes_total',
  'fieldgate_mqtt_messages_sent_total',
  'fieldgate_mqtt_sent_bytes_total',
  'fieldgate_broker_persisted_sessions',
  'fieldgate_broker_retained_messages',
] as const;

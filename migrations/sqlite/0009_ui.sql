-- Dashboards (issue 10): counts by event type over a time window, answered
-- from the index alone (actor_kind tells the model's decisions from overrides).
create index activity_stream_type_time on activity_stream (event_type, occurred_at, actor_kind);

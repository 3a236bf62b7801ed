-- The inbox filters by the intent that stands on an email; the emails with
-- one intent are then read from this index alone.
create index classifications_intent on classifications (intent, email_id);

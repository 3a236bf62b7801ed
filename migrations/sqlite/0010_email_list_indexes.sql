-- The inbox lists one sender's or one company's emails newest first; with
-- the sort key in the index that is a range read, not a scan of every email.
drop index emails_from;
drop index emails_company;
create index emails_from_received on emails (from_addr, received_at, id);
create index emails_company_received on emails (company_id, received_at, id);

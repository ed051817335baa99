-- An agent reply's webhook came while the incidence's ticket was not known yet (its create
-- timed out, the ticket existed all the same): adopting the ticket runs the relay again.
ALTER TABLE incidences ADD COLUMN replies_waiting BOOLEAN NOT NULL DEFAULT FALSE;

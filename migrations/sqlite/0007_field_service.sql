-- What a field-service company needs on its jobs (issue 16.4): where the customer is, how
-- urgent and how long a job is, and a colour per status column.
ALTER TABLE customers ADD COLUMN address text;
ALTER TABLE cards ADD COLUMN priority text CHECK (priority IN ('low','normal','high','urgent'));
ALTER TABLE cards ADD COLUMN estimate_minutes integer CHECK (estimate_minutes >= 0);
ALTER TABLE board_columns ADD COLUMN color text;

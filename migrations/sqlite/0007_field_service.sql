-- What a field-service company needs on its jobs (issue 16.4): where the customer is, how
-- urgent and how long a job is, and a colour per status column.
ALTER TABLE customers ADD COLUMN address text;

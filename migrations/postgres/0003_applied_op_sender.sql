-- Who sent each applied op: a retried op_id gets its first answer only when it comes from the
-- same principal (user, API key), so that replaying someone else's op_id answers nothing for
-- an op its sender may not do. NULL on rows written before this column existed.
ALTER TABLE applied_ops ADD COLUMN principal_id uuid;

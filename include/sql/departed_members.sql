-- departed_members: the members whose data must leave Personalize: those who withdrew (deleted_at set before the
-- end of the run's window) and test accounts (whatever they were before). The daily run deletes each of them from
-- Personalize once (its manifest on S3 remembers who was deleted). Personal data is never selected.
--
-- Output columns (the contract the deletion relies on: keep names, order and meaning when adapting):
--   member_id       BIGINT        not null  key
--   reason          VARCHAR(9)    not null  withdrawn or test
--
-- Parameters:
--   :start  TIMESTAMP  accepted for a uniform call, not used (departure is a state, not an event of the window)
--   :end    TIMESTAMP  first instant excluded, naive local time (a withdrawal after the window waits for its day)
SELECT
    member_id,
    CASE WHEN deleted_at IS NOT NULL AND deleted_at < :end THEN 'withdrawn' ELSE 'test' END AS reason
FROM members
WHERE (deleted_at IS NOT NULL AND deleted_at < :end)
   OR is_test = 1
ORDER BY member_id

-- session_logins: the login rows of every session that has any event in the window, wherever the login falls
-- (before the window, inside it, or after it ends): they tie anonymous session events to the member.
--
-- Output columns (the contract the transforms rely on: keep names, order and meaning when adapting):
--   session_id      CHAR(36)      not null  UUID text of the browsing session
--   member_id       BIGINT        null      the member who logged in (null only if the log is broken)
--   occurred_at_ms  BIGINT        not null  UTC epoch milliseconds of the login
--
-- Parameters (half-open window):
--   :start  BIGINT  first UTC epoch millisecond included
--   :end    BIGINT  first UTC epoch millisecond excluded
SELECT
    l.session_id,
    l.member_id,
    l.occurred_at_ms
FROM web_logs l
WHERE l.event_name = 'login'
  AND l.session_id IN (
      SELECT w.session_id
      FROM web_logs w
      WHERE w.occurred_at_ms >= :start
        AND w.occurred_at_ms < :end
  )
ORDER BY l.occurred_at_ms, l.log_id

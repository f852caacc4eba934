-- web_logs: the click-log rows that occurred in the window, every event and every session (bots and anonymous
-- sessions included: the transform excludes them by rule and counts them).
--
-- Output columns (the contract the transforms rely on: keep names, order and meaning when adapting):
--   log_id          BIGINT        not null  key of the row
--   session_id      CHAR(36)      not null  UUID text of the browsing session
--   member_id       BIGINT        null      null before the session logs in
--   event_name      VARCHAR(20)   not null  page_view, product_view, add_to_cart, wishlist, search, login, logout
--   product_id      BIGINT        null      the product the event is about, if any
--   user_agent      VARCHAR(400)  null
--   occurred_at_ms  BIGINT        not null  UTC epoch milliseconds
--
-- Parameters (half-open window):
--   :start  BIGINT  first UTC epoch millisecond included
--   :end    BIGINT  first UTC epoch millisecond excluded
SELECT
    log_id,
    session_id,
    member_id,
    event_name,
    product_id,
    user_agent,
    occurred_at_ms
FROM web_logs
WHERE occurred_at_ms >= :start
  AND occurred_at_ms < :end
ORDER BY occurred_at_ms, log_id

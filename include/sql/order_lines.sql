-- order_lines: one row per order line of the orders placed in the window, whatever their status
-- (cancelled and refunded orders included: the transform decides what counts as a purchase).
--
-- Output columns (the contract the transforms rely on: keep names, order and meaning when adapting):
--   order_item_id   BIGINT        not null  key of the order line
--   order_id        BIGINT        not null
--   member_id       BIGINT        not null  who ordered
--   ordered_at      TIMESTAMP     not null  naive Asia/Seoul local time
--   status          VARCHAR(20)   not null  paid, shipped, delivered, cancelled, refunded
--   channel         VARCHAR(20)   not null  app_ios, app_android, mobile_web, pc_web
--   product_id      BIGINT        not null
--   option_id       BIGINT        not null  the size bought (product_options)
--   quantity        INTEGER       not null
--   unit_price      INTEGER       not null  KRW paid per piece
--
-- Parameters (half-open window):
--   :start  TIMESTAMP  first instant included, naive Asia/Seoul
--   :end    TIMESTAMP  first instant excluded, naive Asia/Seoul
SELECT
    oi.order_item_id,
    o.order_id,
    o.member_id,
    o.ordered_at,
    o.status,
    o.channel,
    oi.product_id,
    oi.option_id,
    oi.quantity,
    oi.unit_price
FROM orders o
INNER JOIN order_items oi ON oi.order_id = o.order_id
WHERE o.ordered_at >= :start
  AND o.ordered_at < :end
ORDER BY o.ordered_at, o.order_id, oi.order_item_id

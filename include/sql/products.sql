-- products: one row per (product, option), products without options once with null option columns; products
-- registered before the end of the window or with no registration time. The Korean name is never selected.
--
-- Output columns (the contract the transforms rely on: keep names, order and meaning when adapting):
--   product_id        BIGINT        not null  key (with option_id)
--   cup_type          VARCHAR(20)   null
--   wire              SMALLINT      null      0/1
--   braret            SMALLINT      null      0/1: a bralette
--   gore_height       VARCHAR(20)   null
--   gore_width        VARCHAR(20)   null
--   braret_line       VARCHAR(20)   null
--   bsw               VARCHAR(20)   null
--   price             INTEGER       not null  KRW
--   status            VARCHAR(20)   not null  on_sale, sold_out, discontinued
--   registered_at     TIMESTAMP     null      naive Asia/Seoul local time
--   option_id         BIGINT        null      null when the product has no options
--   option_cup_size   VARCHAR(2)    null
--   option_band_size  SMALLINT      null
--   stock             INTEGER       null
--
-- Parameters:
--   :start  TIMESTAMP  accepted for a uniform call, not used (the catalogue is a snapshot)
--   :end    TIMESTAMP  first instant excluded, naive Asia/Seoul
SELECT
    p.product_id,
    p.cup_type,
    p.wire,
    p.braret,
    p.gore_height,
    p.gore_width,
    p.braret_line,
    p.bsw,
    p.price,
    p.status,
    p.registered_at,
    po.option_id,
    po.cup_size AS option_cup_size,
    po.band_size AS option_band_size,
    po.stock
FROM products p
LEFT JOIN product_options po ON po.product_id = p.product_id
WHERE p.registered_at < :end
   OR p.registered_at IS NULL
ORDER BY p.product_id, po.option_id

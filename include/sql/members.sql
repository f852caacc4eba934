-- members: every member created before the end of the window, test accounts and withdrawn members included (the
-- transform excludes them by rule). Personal data (name, email, phone) is never selected.
--
-- Output columns (the contract the transforms rely on: keep names, order and meaning when adapting):
--   member_id       BIGINT        not null  key
--   birth_date      DATE          null
--   cup_size        VARCHAR(2)    null      AA, A, B, C, D, E, F, G
--   band_size       SMALLINT      null      60..100 in steps of 5
--   is_test         SMALLINT      not null  1 for test accounts
--   created_at      TIMESTAMP     not null  naive Asia/Seoul local time
--   deleted_at      TIMESTAMP     null      set when the member withdrew, naive Asia/Seoul
--
-- Parameters:
--   :start  TIMESTAMP  accepted for a uniform call, not used (the member list is a snapshot)
--   :end    TIMESTAMP  first instant excluded, naive Asia/Seoul
SELECT
    member_id,
    birth_date,
    cup_size,
    band_size,
    is_test,
    created_at,
    deleted_at
FROM members
WHERE created_at < :end
ORDER BY member_id

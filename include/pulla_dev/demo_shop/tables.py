"""The Pulla source tables, written once as SQLAlchemy Core metadata and applied to SQLite, PostgreSQL and
MariaDB.

We do not know Pulla's real schema, so these six tables are a realistic stand-in that the extraction SQL in
``include/sql/`` reads. Types are chosen to mean the same on every engine: ids are BIGINT (never
auto-generated, the seeder assigns them so a seed is reproducible), flags are SMALLINT 0/1 (MariaDB has no
real boolean), TIMESTAMP columns are naive Asia/Seoul local time (``DateTime`` without time zone: TIMESTAMP
WITHOUT TIME ZONE on PostgreSQL, DATETIME on MariaDB, which unlike MariaDB's TIMESTAMP is not shifted by the
session time zone), and click-log times are UTC epoch milliseconds in a BIGINT.

Indexes are the ones extraction needs: the window columns (orders.ordered_at, web_logs.occurred_at_ms) and
the join columns (order_items.order_id, product_options.product_id, web_logs.session_id for session
stitching).
"""

from __future__ import annotations

import sqlalchemy as sa

# MariaDB: InnoDB for transactions and foreign keys, utf8mb4 for Korean names.
_MYSQL_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

metadata = sa.MetaData()

members = sa.Table(
    "members",
    metadata,
    sa.Column("member_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("phone", sa.String(20), nullable=True),
    sa.Column("birth_date", sa.Date, nullable=True),
    sa.Column("cup_size", sa.String(2), nullable=True),  # AA, A..G
    sa.Column("band_size", sa.SmallInteger, nullable=True),  # 60..100 step 5
    sa.Column("is_test", sa.SmallInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("deleted_at", sa.DateTime, nullable=True),  # set when the member withdrew
    sa.Index("ix_members_created_at", "created_at"),
    **_MYSQL_OPTIONS,
)

products = sa.Table(
    "products",
    metadata,
    sa.Column("product_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),  # Korean, unstructured
    sa.Column("cup_type", sa.String(20), nullable=True),
    sa.Column("wire", sa.SmallInteger, nullable=True),  # 0/1
    sa.Column("braret", sa.SmallInteger, nullable=True),  # 0/1: a bralette
    sa.Column("gore_height", sa.String(20), nullable=True),
    sa.Column("gore_width", sa.String(20), nullable=True),
    sa.Column("braret_line", sa.String(20), nullable=True),
    sa.Column("bsw", sa.String(20), nullable=True),  # side-wing width
    sa.Column("price", sa.Integer, nullable=False),  # KRW
    sa.Column("status", sa.String(20), nullable=False),  # on_sale, sold_out, discontinued
    sa.Column("registered_at", sa.DateTime, nullable=True),
    sa.Column("manufactured_at", sa.Date, nullable=True),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Index("ix_products_registered_at", "registered_at"),
    **_MYSQL_OPTIONS,
)

product_options = sa.Table(
    "product_options",
    metadata,
    sa.Column("option_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("product_id", sa.BigInteger, sa.ForeignKey("products.product_id"), nullable=False),
    sa.Column("cup_size", sa.String(2), nullable=False),
    sa.Column("band_size", sa.SmallInteger, nullable=False),
    sa.Column("stock", sa.Integer, nullable=False),
    sa.UniqueConstraint("product_id", "cup_size", "band_size", name="uq_product_options_size"),
    sa.Index("ix_product_options_product_id", "product_id"),
    **_MYSQL_OPTIONS,
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("order_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("member_id", sa.BigInteger, sa.ForeignKey("members.member_id"), nullable=False),
    sa.Column("ordered_at", sa.DateTime, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # paid, shipped, delivered, cancelled, refunded
    sa.Column("channel", sa.String(20), nullable=False),  # app_ios, app_android, mobile_web, pc_web
    sa.Index("ix_orders_ordered_at", "ordered_at"),
    sa.Index("ix_orders_member_id", "member_id"),
    **_MYSQL_OPTIONS,
)

order_items = sa.Table(
    "order_items",
    metadata,
    sa.Column("order_item_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("order_id", sa.BigInteger, sa.ForeignKey("orders.order_id"), nullable=False),
    sa.Column("product_id", sa.BigInteger, sa.ForeignKey("products.product_id"), nullable=False),
    sa.Column("option_id", sa.BigInteger, sa.ForeignKey("product_options.option_id"), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price", sa.Integer, nullable=False),  # KRW actually paid per piece
    sa.Index("ix_order_items_order_id", "order_id"),
    **_MYSQL_OPTIONS,
)

# No foreign keys on the click log: it is written by the web tier and may name products that no longer exist.
web_logs = sa.Table(
    "web_logs",
    metadata,
    sa.Column("log_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("session_id", sa.CHAR(36), nullable=False),  # UUID text
    sa.Column("member_id", sa.BigInteger, nullable=True),  # null before login
    sa.Column("event_name", sa.String(20), nullable=False),
    sa.Column("product_id", sa.BigInteger, nullable=True),
    sa.Column("user_agent", sa.String(400), nullable=True),
    sa.Column("occurred_at_ms", sa.BigInteger, nullable=False),  # UTC epoch milliseconds
    sa.Index("ix_web_logs_occurred_at_ms", "occurred_at_ms"),
    sa.Index("ix_web_logs_session_id", "session_id"),
    **_MYSQL_OPTIONS,
)

#: The six tables in the order they can be loaded (parents before children).
TABLES: tuple[sa.Table, ...] = (members, products, product_options, orders, order_items, web_logs)
TABLE_NAMES: tuple[str, ...] = tuple(table.name for table in TABLES)


def create_schema(connection: sa.Connection) -> None:
    """Creates the six tables with their keys and indexes (fails if any already exists)."""
    metadata.create_all(connection, checkfirst=False)


def drop_schema(connection: sa.Connection) -> None:
    """Drops whichever of the six tables exist (children first); other tables are left alone."""
    metadata.drop_all(connection, checkfirst=True)


def existing_tables(connection: sa.Connection) -> list[str]:
    """Names of the six Pulla tables that already exist in the connected database."""
    present = set(sa.inspect(connection).get_table_names())
    return [name for name in TABLE_NAMES if name in present]

"""The PostgreSQL warehouse: engine, tables of the raw/staging/meta schemas, migrations, bulk load."""

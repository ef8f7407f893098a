"""The simulated MariaDB server of the `mariadb` image (process.py), its SQL (sql.py), its
data directory (datadir.py) and its protocol (wire.py)."""

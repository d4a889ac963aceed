-- Run once by the postgres image on an empty data directory (docker-compose.yml mounts it into
-- /docker-entrypoint-initdb.d). The services create their own schemas and tables; this only adds
-- the read-only login Grafana uses: export grants bcosdata_reader (-db.reader-role) USAGE and
-- SELECT on its schema at every start.
CREATE ROLE bcosdata_reader NOLOGIN;
CREATE ROLE grafana LOGIN PASSWORD 'grafana' IN ROLE bcosdata_reader;

FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY monitor ./monitor
RUN pip install --no-cache-dir '.[postgres]' && useradd --create-home monitor \
    && mkdir /data && chown monitor /data

USER monitor
# The config is mounted at /config; the store lives on the /data volume.
ENV MONITOR_CONFIG=/config/monitor.toml \
    MONITOR_STORAGE__URL=sqlite:////data/monitor.db
VOLUME ["/data"]
ENTRYPOINT ["monitor"]
CMD ["run"]

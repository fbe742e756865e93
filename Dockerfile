# One image for every role: `tidings serve` (default), `tidings worker`, `tidings migrate`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TIDINGS_ENVIRONMENT=production

WORKDIR /app

# Dependencies first, so code changes do not reinstall them. Every pin carries its hashes;
# the lock also holds the build backend (hatchling, editables) for the install below.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

COPY pyproject.toml README.md alembic.ini ./
COPY migrations ./migrations
COPY app ./app
# Editable, as the Makefile does: app/schema.py finds alembic.ini and migrations/ next to
# the app package, which a regular install would move into site-packages without them.
RUN pip install --no-deps --no-build-isolation -e .

RUN groupadd --system tidings \
    && useradd --system --gid tidings --home-dir /app --no-create-home tidings
USER tidings

EXPOSE 8000
CMD ["tidings", "serve", "--host", "0.0.0.0", "--port", "8000"]

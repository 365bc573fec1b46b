#!/usr/bin/env bash
# Prepare and serve the example project: migrate, seed the shop, make the demo superuser and
# its API token, print what to try, then run daphne on loopback. Safe to run again: every
# step is idempotent (the admin password and token are reset to the printed values).
# Expects the virtualenv's bin on PATH (`make demo` does that). Set HOST/PORT to move it.
set -euo pipefail
cd "$(dirname "$0")/.."

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
ADMIN_USER="${DEMO_ADMIN_USER:-admin}"
ADMIN_PASSWORD="${DEMO_ADMIN_PASSWORD:-agentic-demo}"
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-example_project.settings}"

python manage.py migrate --noinput
python manage.py seed_shop

TOKEN="$(ADMIN_USER="$ADMIN_USER" ADMIN_PASSWORD="$ADMIN_PASSWORD" python - <<'PY'
import os

import django

django.setup()

from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

user, _ = get_user_model().objects.get_or_create(
    username=os.environ["ADMIN_USER"], defaults={"email": "admin@example.com"}
)
user.is_staff = user.is_superuser = user.is_active = True
user.set_password(os.environ["ADMIN_PASSWORD"])
user.save()
token, _ = Token.objects.get_or_create(user=user)
print(token.key)
PY
)"

BASE="http://$HOST:$PORT"
AUTH="Authorization: Token $TOKEN"
cat <<EOF

agentic_django demo
  Admin:         $BASE/admin/   (user: $ADMIN_USER  password: $ADMIN_PASSWORD)
  Endpoints:     $BASE/agents/
  OpenAPI:       $BASE/agents/openapi.json
  Health:        $BASE/agents/health/
  API token:     $TOKEN

Try (traces appear in admin under "Execution traces"):
  curl -s -H '$AUTH' $BASE/agents/

  curl -s -H '$AUTH' -H 'Content-Type: application/json' $BASE/agents/orders/ \\
       -d '{"intent": "how many orders shipped in the last 7 days?"}'

  curl -s -H '$AUTH' -H 'Content-Type: application/json' $BASE/agents/orders/ \\
       -d '{"intent": "order summary", "params": {"status": "refunded", "days": 60}}'

  curl -s -H '$AUTH' -H 'Content-Type: application/json' $BASE/agents/orders/ \\
       -d '{"intent": "cancel all orders"}'                      # 403: outside the intent scope

  curl -s -H '$AUTH' -H 'Content-Type: application/json' -H 'X-Currency: EUR' \\
       $BASE/agents/catalog/ -d '{"intent": "show me walnut lamps"}'

  curl -s -H '$AUTH' -H 'Content-Type: application/json' $BASE/agents/assistant/ \\
       -d '{"intent": "my name is Ada"}'                         # then send the session_id back:
  curl -s -H '$AUTH' -H 'Content-Type: application/json' $BASE/agents/assistant/ \\
       -d '{"intent": "what do you remember?", "session_id": "<session_id from above>"}'

  curl -s -H '$AUTH' -H 'Content-Type: application/json' $BASE/agents/export/ \\
       -d '{"intent": "export shipped orders", "params": {"days": 14}}'    # CSV, staff only

  curl -s -H '$AUTH' -H 'Content-Type: application/json' $BASE/agents/analytics/ \\
       -d '{"intent": "revenue by status"}'      # generated code, run in the sandbox; ask twice:
                                                 # the second answer comes from the code cache
  curl -s -H '$AUTH' -H 'Content-Type: application/json' $BASE/agents/shopper/ \\
       -d '{"intent": "show me lamps under 300"}'               # the agent calls an ORM tool
  curl -s -H '$AUTH' -H 'Content-Type: application/json' $BASE/agents/restock/ \\
       -d '{"intent": "restock below 50"}'      # a workflow; 202: it pauses for approval

  curl -s $BASE/agents/orders/ -H 'Content-Type: application/json' -d '{"intent": "hi"}'
                                                                 # 401: no credentials
Serving on $BASE (Ctrl-C to stop)
EOF

exec daphne -b "$HOST" -p "$PORT" example_project.asgi:application

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

# The admin (superuser), a manager who approves agent actions, and a customer (Ada, who
# has orders in the seeded shop). Prints "admin-token customer-token".
read -r TOKEN CUSTOMER_TOKEN < <(ADMIN_USER="$ADMIN_USER" ADMIN_PASSWORD="$ADMIN_PASSWORD" python - <<'PY'
import os

import django

django.setup()

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from rest_framework.authtoken.models import Token

User = get_user_model()
password = os.environ["ADMIN_PASSWORD"]


def account(username, email, **flags):
    user, _ = User.objects.get_or_create(username=username, defaults={"email": email})
    for name, value in {"is_active": True, **flags}.items():
        setattr(user, name, value)
    user.set_password(password)
    user.save()
    return user


admin = account(os.environ["ADMIN_USER"], "admin@example.com", is_staff=True, is_superuser=True)
managers, _ = Group.objects.get_or_create(name="managers")
managers.permissions.set(
    Permission.objects.filter(
        content_type__app_label="agentic_django",
        codename__in=[
            "approve_approvalrequest",
            "view_approvalrequest",
            "view_executiontrace",
            "view_agent",
            "toggle_agent",
        ],
    )
)
account("manager", "manager@example.com", is_staff=True).groups.add(managers)
customer = account("ada", "ada.lovelace@example.com")
print(Token.objects.get_or_create(user=admin)[0].key, Token.objects.get_or_create(user=customer)[0].key)
PY
)

BASE="http://$HOST:$PORT"
AUTH="Authorization: Token $TOKEN"
ADA="Authorization: Token $CUSTOMER_TOKEN"
cat <<EOF

agentic_django demo
  Admin:         $BASE/admin/   (user: $ADMIN_USER  password: $ADMIN_PASSWORD)
  Approver:      user: manager  password: $ADMIN_PASSWORD  (group "managers")
  Customer:      user: ada      password: $ADMIN_PASSWORD  token: $CUSTOMER_TOKEN
  Assistant:     $BASE/shop/assistant/   (log in as ada / $ADMIN_PASSWORD: a streamed refund)
  Endpoints:     $BASE/agents/
  OpenAPI:       $BASE/agents/openapi.json
  Health:        $BASE/agents/health/
  API token:     $TOKEN

Operate the agents in admin ($BASE/admin/agentic_django/agent/):
  switch one off (action "Switch off"): its requests answer 503 agent_disabled;
  set "analytics" to autonomy "manual": its generated code then waits for approval;
  Usage dashboard: $BASE/admin/agentic_django/agent/dashboard/   (LLM cost per agent per day)
  Playground:      $BASE/admin/agentic_django/agent/playground/  (try any agent, watch its stream)

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
  curl -s -H '$ADA' -H 'Content-Type: application/json' $BASE/agents/shopper/ \\
       -d '{"intent": "show me lamps under 300"}'               # the agent calls an ORM tool
  curl -s -H '$ADA' -H 'Content-Type: application/json' $BASE/agents/shopper/ \\
       -d '{"intent": "show my pending orders"}'
  curl -s -H '$ADA' -H 'Content-Type: application/json' $BASE/agents/shopper/ \\
       -d '{"intent": "cancel order <id from above>"}'     # 202: waits for a manager. Log in to
                    # $BASE/admin/ as manager, open Approval requests, approve: a Celery worker
                    # cancels the order. Ada follows it at the approval_request url.
  curl -s -H '$AUTH' -H 'Content-Type: application/json' $BASE/agents/restock/ \\
       -d '{"intent": "restock below 50"}'      # a workflow; 202: it pauses for approval

  curl -s $BASE/agents/orders/ -H 'Content-Type: application/json' -d '{"intent": "hi"}'
                                                                 # 401: no credentials
Serving on $BASE (Ctrl-C to stop)
EOF

# A Celery worker (with the beat schedule) carries out approved actions and background
# tasks; on the filesystem broker by default, Redis with CELERY_BROKER_URL=redis://...
mkdir -p var
celery -A example_project worker -B --schedule var/celerybeat-schedule --concurrency 2 \
  --loglevel warning &
WORKER=$!
trap 'kill "$WORKER" 2>/dev/null; wait "$WORKER" 2>/dev/null' EXIT INT TERM

# Timeouts (docs/security.md, "Timeouts"): a response must start within the HTTP timeout
# (longer than an approval may wait, so a stream paused on one survives), a socket must
# finish its handshake in 5 s and answer pings; slow request bodies are the reverse
# proxy's to cut off, daphne has no setting for them.
daphne -b "$HOST" -p "$PORT" \
  --http-timeout "${DAPHNE_HTTP_TIMEOUT:-3700}" \
  --websocket_connect_timeout 5 \
  --websocket_timeout "${DAPHNE_WEBSOCKET_TIMEOUT:-86400}" \
  --ping-interval 20 --ping-timeout 30 \
  --application-close-timeout 10 \
  example_project.asgi:application

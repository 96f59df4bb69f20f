#!/usr/bin/env bash
# The dev environment in one command (make dev), or the same flow as a
# non-interactive demo (make demo = dev.sh --demo):
#   - passwordsafe-sim (a local Password Safe, demo world) on a free loopback port
#   - a Vault dev server on a free loopback port, the plugin registered by
#     SHA-256 and version and mounted at passwordsafe/
#   - config pointing at the simulator, a few demo roles, one checkout
# dev: prints how to use it and stays up until Ctrl-C, then stops everything.
# --demo: checkout, renewal, revocation (check-in + rotation), then exits 0.
# Needs bin/vault, bin/passwordsafe-sim and the plugin (make dev builds them).
set -euo pipefail

mode=dev
case "${1:-}" in
  "") ;;
  --demo) mode=demo ;;
  -h | --help)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *) echo "usage: $0 [--demo]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
plugin="vault-plugin-secrets-passwordsafe"
version=${PLUGIN_VERSION:-v0.1.0}
mount=passwordsafe
approver=passwordsafe-approver
vault="$root/bin/vault"
sim="$root/bin/passwordsafe-sim"

die() { printf 'dev: error: %s\n' "$*" >&2; exit 1; }
step() { printf '\n==> %s\n' "$*"; }
# show prints a command the way a user would type it, then runs it.
show() {
  local a line=
  for a in "$@"; do
    a=${a#"$root/bin/"}
    if [[ $a =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
      line+=" $a"
    elif [[ $a =~ ^([a-z_]+)=([^\"\$\`\\]*)$ ]]; then
      line+=" ${BASH_REMATCH[1]}=\"${BASH_REMATCH[2]}\""
    else
      line+=" $(printf '%q' "$a")"
    fi
  done
  printf '$%s\n' "$line"
  "$@"
}

for b in "$vault" "$sim" "$root/bin/$plugin"; do
  [ -x "$b" ] || die "$b is missing: run 'make ${mode}' (it builds the plugin, the simulator and Vault)"
done
command -v curl >/dev/null || die "curl is needed"

work=$(mktemp -d "${TMPDIR:-/tmp}/passwordsafe-dev.XXXXXX")
sim_pid=
vault_pid=
stopping=

# Everything this script started is stopped on the way out, whatever the way.
cleanup() {
  local rc=$?
  [ -n "$stopping" ] && return
  stopping=1
  # Nothing may stop the clean-up half way: not a second Ctrl-C, not a
  # closed terminal or pipe (`make dev | tee` loses tee to the Ctrl-C), not
  # a failing command.
  trap '' INT TERM HUP PIPE
  set +e
  if [ -n "$vault_pid" ] && kill -0 "$vault_pid" 2>/dev/null; then
    echo
    echo "==> Stopping: revoking live leases (checks their requests in), then Vault and the simulator"
    timeout 20 "$vault" lease revoke -prefix "$mount/" >/dev/null 2>&1 || true
    kill -TERM "$vault_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$vault_pid" 2>/dev/null || break; sleep 0.1; done
    # Vault's own process group: the plugin processes it started go too.
    kill -KILL -- "-$vault_pid" 2>/dev/null || true
  fi
  if [ -n "$sim_pid" ]; then
    kill -TERM "$sim_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$sim_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$sim_pid" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  rm -rf "$work/plugins" # a 30 MB copy; the logs stay
  echo "==> Stopped. Logs: $work"
  [ "$mode" = dev ] && [ "$rc" -eq 130 ] && rc=0 # Ctrl-C is how dev mode ends
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

# free_port finds a loopback port p with p and p+1 free (Vault's dev server
# puts its cluster listener on the API port + 1).
free_port() {
  local p
  for _ in $(seq 200); do
    p=$(( (RANDOM * 32768 + RANDOM) % 25000 + 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null &&
      ! (exec 3<>"/dev/tcp/127.0.0.1/$((p + 1))") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  die "no free port on 127.0.0.1"
}

wait_for() { # tries (of 0.1s), command...
  local tries=$1
  shift
  for _ in $(seq "$tries"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# --- the simulator ----------------------------------------------------------
step "Starting the Password Safe simulator (demo world)"
setsid "$sim" -listen 127.0.0.1:0 -ready-file "$work/sim.ready" >"$work/sim.log" 2>&1 &
sim_pid=$!
wait_for 100 test -s "$work/sim.ready" || { tail -n 20 "$work/sim.log" >&2; die "the simulator did not start (log: $work/sim.log)"; }
sim_url=$(head -n 1 "$work/sim.ready")
sim_url=${sim_url%/}
sim_url=${sim_url%/BeyondTrust/api/public/v3}
api_url="$sim_url/BeyondTrust/api/public/v3"
# The world's credentials: PSSIM_API_KEY (the registration that needs no
# password), PSSIM_RUN_AS, ... (our own tool, shell-quoted).
eval "$("$sim" -print-env)"
if [ -z "${PSSIM_API_KEY:-}" ] || [ -z "${PSSIM_RUN_AS:-}" ]; then
  die "passwordsafe-sim -print-env gave no API key or run-as user"
fi
echo "simulator: $sim_url (API $api_url)"

# --- Vault ------------------------------------------------------------------
step "Starting a Vault dev server ($("$vault" version | head -n 1 | sed 's/,.*//'))"
mkdir -p "$work/plugins"
cp "$root/bin/$plugin" "$work/plugins/$plugin"
port=$(free_port)
token="dev-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
cat >"$work/vault.hcl" <<EOF
plugin_directory = "$work/plugins"
EOF
export VAULT_ADDR="http://127.0.0.1:$port" VAULT_TOKEN="$token"
unset VAULT_NAMESPACE VAULT_CACERT VAULT_CAPATH VAULT_CLIENT_CERT VAULT_CLIENT_KEY VAULT_SKIP_VERIFY VAULT_FORMAT || true
HOME="$work" setsid "$vault" server -dev -dev-root-token-id="$token" -dev-listen-address="127.0.0.1:$port" \
  -dev-no-store-token -config="$work/vault.hcl" -log-level=debug >"$work/vault.log" 2>&1 &
vault_pid=$!
wait_for 300 curl -fsS "$VAULT_ADDR/v1/sys/health" || { tail -n 20 "$work/vault.log" >&2; die "Vault did not start (log: $work/vault.log)"; }
echo "vault: $VAULT_ADDR"

step "Registering the plugin by SHA-256 and version, mounting it at $mount/"
sha=$(sha256sum "$work/plugins/$plugin" | cut -d ' ' -f 1)
show "$vault" plugin register -sha256="$sha" -version="$version" secret "$plugin"
show "$vault" secrets enable -path="$mount" -plugin-version="$version" "$plugin"

step "Configuring it against the simulator (the API key goes in on stdin, not the command line)"
# The simulator serves plain http on loopback: allow_plain_http=true says so
# (the engine refuses http:// without it, and warns on every config read).
printf '%s' "$PSSIM_API_KEY" | show "$vault" write "$mount/config" url="$api_url" api_key=- run_as="$PSSIM_RUN_AS" allow_plain_http=true

step "Writing demo roles"
show "$vault" write "$mount/roles/db" system_name=db-prod-01 account_name=postgres ttl=15m max_ttl=1h
show "$vault" write "$mount/roles/web-root-key" system_name=web-01 account_name=root \
  credential_types=password,dsskey,passphrase ttl=15m max_ttl=1h
show "$vault" write "$mount/roles/prod-db-admin" alias_name=prod-db-admin ttl=15m max_ttl=1h
show "$vault" write "$mount/roles/fin-sa" system_name=fin-db-01 account_name=sa ttl=15m max_ttl=1h
show "$vault" list "$mount/roles"

# fin-db-01/sa needs an approver. With a fixed run_as every caller of a mount
# acts as that one Password Safe user, so approvals go through a second mount
# of the same plugin that acts as the approver bob.
step "A second mount acting as the approver bob (for fin-sa's approvals)"
show "$vault" secrets enable -path="$approver" -plugin-version="$version" "$plugin"
printf '%s' "$PSSIM_API_KEY" | show "$vault" write "$approver/config" url="$api_url" api_key=- run_as=bob allow_plain_http=true

step "A checkout: a Password Safe release request under a Vault lease"
show "$vault" read "$mount/creds/db"
lease=$("$vault" list -format=json "sys/leases/lookup/$mount/creds/db/" | sed -n 's/^ *"\([^"]*\)",\{0,1\}$/\1/p' | head -n 1) || true
[ -n "$lease" ] || die "no lease for the checkout"
lease="$mount/creds/db/$lease"

if [ "$mode" = dev ]; then
  cat <<EOT

==> Ready. Password Safe simulator at $sim_url, Vault at $VAULT_ADDR
    Logs: $work (vault.log holds the plugin's log lines too)

Try it from another shell:

  export VAULT_ADDR=$VAULT_ADDR VAULT_TOKEN=$VAULT_TOKEN
  export PATH="$root/bin:\$PATH"    # this Vault's CLI (any vault CLI works)

  vault lease revoke $lease    # checks the checkout above in; the password rotates
  vault read $mount/creds/db               # a new checkout (a second one while one is live: HTTP 409)
  vault lease renew <lease_id>
  vault read $mount/creds/web-root-key     # password, DSS key and passphrase
  vault read $mount/creds/prod-db-admin    # through the alias prod-db-admin (same account as db)
  vault read $mount/creds/fin-sa           # needs an approver: answers "pending" with a request_id
  vault write $approver/requests/<request_id>/approve reason=ok   # approve it as bob
  vault read $mount/requests/<request_id>/creds                   # then read it
  vault path-help $mount/

The simulator's control API shows the Password Safe side:
  curl -s $sim_url/_pstest/requests
  curl -s $sim_url/_pstest/accounts/11/password

Press Ctrl-C to stop everything.
EOT
  # Up until Ctrl-C, or until one of the two dies.
  set +e
  wait -n "$sim_pid" "$vault_pid"
  rc=$?
  set -e
  echo "dev: a process stopped unexpectedly (exit $rc); see $work" >&2
  exit 1
fi

# --- demo: renewal, revocation, approval -------------------------------------
sim_get() { curl -fsS "$sim_url/_pstest/$1"; }
# field prints the last value of a JSON key (simple values; Go's JSON escapes
# & < > as \u0026 \u003c \u003e, and the simulator's passwords hold no quote
# or backslash).
field() {
  tr -d '\n' | sed -n "s/.*\"$1\": *\"\{0,1\}\([^\",}]*\)\"\{0,1\}.*/\1/p" |
    sed 's/\\u0026/\&/g; s/\\u003c/</g; s/\\u003e/>/g'
}
# The checkout above is the only active request.
rid=$(sim_get requests | tr -d '\n ' | sed 's/},{/}\n{/g' | grep '"Status":"active"' | sed -n 's/.*"ID":\([0-9]*\).*/\1/p' | tail -n 1) || true
[ -n "$rid" ] || die "the simulator shows no active request"
step "Password Safe shows the request as active"
show curl -fsS "$sim_url/_pstest/requests/$rid"
echo

step "Renewal: the lease is extended (never past the request's expiry)"
show "$vault" lease renew -increment=30m "$lease"

step "Revocation checks the request in, and Password Safe rotates the password"
before=$(sim_get accounts/11/password | field password)
echo "password of db-prod-01/postgres before: $before"
show "$vault" lease revoke "$lease"
status=
for _ in $(seq 50); do
  status=$(sim_get "requests/$rid" | field Status)
  [ "$status" = checkedin ] && break
  sleep 0.1
done
after=$(sim_get accounts/11/password | field password)
echo "request $rid: $status"
echo "password of db-prod-01/postgres after:  $after"
[ "$status" = checkedin ] || die "request $rid is $status, not checked in"
if [ -z "$after" ] || [ "$after" = "$before" ]; then die "the password did not rotate"; fi

step "A new checkout gets the new password"
show "$vault" read -field=password "$mount/creds/db"
echo

step "Approval: fin-db-01/sa needs an approver"
out=$("$vault" read -format=json "$mount/creds/fin-sa")
pending=$(printf '%s' "$out" | field request_id)
printf '%s\n' "$out" | { grep -E '"(status|message)"|"request_id": [0-9]' || true; } | sed 's/^ */  /'
[ -n "$pending" ] || die "no pending request for fin-sa"
show "$vault" write "$approver/requests/$pending/approve" reason="approved in the demo"
show "$vault" read "$mount/requests/$pending/creds"

step "Revoking everything: each request is checked in"
show "$vault" lease revoke -prefix "$mount/"
sleep 1
active=$(sim_get requests | tr -d '\n ' | { grep -o '"Status":"active"' || true; } | wc -l)
echo "active requests left in Password Safe: $active"
[ "$active" -eq 0 ] || die "$active requests still active"

step "Demo done: checkout, renewal, revocation with check-in and rotation, approval"

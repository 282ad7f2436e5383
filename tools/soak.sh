#!/bin/sh
# soak.sh [BIN] — SOAK_SERVICES services (default 500), each with a logger, under one
# svscan for SOAK_SECONDS (default 600) of random restarts, signals and control
# commands. Reports the memory of every svkit process at the start and at the end,
# the zombies left under the scanner, and the log lines lost or doubled. Exits 1 if
# any of those is wrong or a svkit process died unexpectedly. Not part of make test;
# its latest result goes in docs/reliability.md.
#
# Knobs (environment): SOAK_SERVICES, SOAK_SECONDS, SOAK_RATE (actions per second,
# default 20), SOAK_SEED (the random plan; printed, so a run can be replayed),
# SOAK_OUT (where summary.txt, the scanner's stderr and the memory of each process are
# kept, default target/soak),
# SOAK_KEEP=1 (keep the work directory; its processes are still stopped).
set -eu
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/release/svkit}")
n=${SOAK_SERVICES:-500}
secs=${SOAK_SECONDS:-600}
rate=${SOAK_RATE:-20}
seed=${SOAK_SEED:-$(od -An -N3 -tu4 /dev/urandom | tr -d ' ')}
out=${SOAK_OUT:-target/soak}
mkdir -p "$out"
out=$(realpath "$out")

work=$(realpath "$(mktemp -d /tmp/svkit-soak.XXXXXX)")
scanner=
# Every process the soak started has its cwd or its command line under $work
# (services, loggers, supervisors, their orphans). The last resort kills those, by pid.
leftovers() { # (no command here holds $work in its own command line)
  { ls -l /proc/[0-9]*/cwd 2>/dev/null | W=$work awk 'index($NF, ENVIRON["W"]) == 1 { split($(NF - 2), p, "/"); print p[3] }'
    printf '%s\n' "$work" | grep -alFf - /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3
  } | sort -u | grep -vx "$$" || true
}
alive() { # alive PID: the process exists and is not a zombie
  [ -r "/proc/$1/stat" ] && ! sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | grep -q '^Z'
}
cleanup() {
  set +e
  if [ -n "$scanner" ] && alive "$scanner"; then
    "$cmd/svscanctl" -t "$scan" 2>/dev/null || kill -TERM "$scanner" 2>/dev/null
    i=0
    while alive "$scanner" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    alive "$scanner" && kill -KILL "$scanner" 2>/dev/null
    wait "$scanner" 2>/dev/null
  fi
  for pid in $(leftovers); do kill -KILL "$pid" 2>/dev/null; done
  if [ "${SOAK_KEEP:-0}" = 1 ]; then
    echo "soak: work directory kept: $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sh tools/install.sh "$bin" "$work/root"
cmd=$work/root/command
exe=$cmd/svkit
scan=$work/scan
seqd=$work/seq # seqd/NAME.RUN holds the last number that run wrote to its pipe
mkdir -p "$scan" "$seqd"
: > "$work/stamped"

say() { printf 'soak: %s\n' "$*"; }
now() { date +%s; }

# --- The services -----------------------------------------------------------------
# sNNN/run writes "sNNN RUN SEQ PAD" every 0.5 to 2.5 s (about 330 lines a second for
# 500 services): RUN is unique per run ($$ and the start time in ns), SEQ counts from
# 1, PAD is a fixed 64-byte tail that shows a torn or merged line. After each line it
# records SEQ in $seqd/sNNN.RUN, so a line lost at the end of a run shows too (a
# kill between the two writes leaves the record one behind, never ahead).
# Every third service notifies readiness (notification-fd 3); every fifth has a
# finish, which writes a line of its own (every tenth sleeps 0.3 s in it, so the
# service is seen finishing); every 50th starts with a down file. Loggers are plain
# (`log n1000 s4096 l2048 ./main`, the splice path: no line may be lost or doubled,
# even after a SIGKILL), except every fourth, which stamps (`t`): after a logger's
# SIGKILL that one may write a few lines twice (docs/log.md, No loss), so its
# duplicates are reported apart. A ~100-byte line rotates a logdir every ~20 lines,
# and n1000 keeps every archive, so every line can be checked at the end.
pad=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
width=${#n}
[ "$width" -ge 3 ] || width=3
names=
i=0
while [ $i -lt "$n" ]; do
  i=$((i + 1))
  s=s$(printf "%0${width}d" $i)
  names="$names $s"
  d=$scan/$s
  mkdir -p "$d/log"
  case $((i % 5)) in
    0) every=0.5 ;; 1) every=1 ;; 2) every=1.5 ;; 3) every=2 ;; *) every=2.5 ;;
  esac
  notify=
  if [ $((i % 3)) -eq 0 ]; then
    echo 3 > "$d/notification-fd"
    notify='[ $i -ne 1 ] || { echo >&3; exec 3>&-; }'
  fi
  cat > "$d/run" <<EOF
#!/bin/sh
run=\$\$.\$(date +%s%N)
i=0
while :; do
  i=\$((i + 1))
  echo "$s \$run \$i $pad"
  echo \$i > $seqd/$s.\$run
  $notify
  sleep $every
done
EOF
  if [ $((i % 5)) -eq 0 ]; then
    nap=
    [ $((i % 10)) -ne 0 ] || nap='sleep 0.3'
    printf '#!/bin/sh\necho "%s finish $1 $2"\n%s\n' "$s" "$nap" > "$d/finish"
  fi
  [ $((i % 50)) -ne 7 ] || : > "$d/down"
  stamp=
  if [ $((i % 4)) -eq 2 ]; then
    stamp=t
    echo "$s" >> "$work/stamped"
  fi
  printf '#!/bin/sh\nexec %s n1000 s4096 l2048 %s ./main\n' "$cmd/log" "$stamp" > "$d/log/run"
done
find "$scan" -name run -exec chmod +x {} + -o -name finish -exec chmod +x {} +
dirs=
for s in $names; do dirs="$dirs $scan/$s $scan/$s/log"; done

# --- Measures -----------------------------------------------------------------------
# procs: "pid ppid state comm exe" for every process (exe "-" if unreadable).
procs() {
  # (|| true: under set -e, ls and cat fail on processes that vanish or have no exe)
  { ls -l /proc/[0-9]*/exe 2>/dev/null || true; echo ==stat==; cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '
    $0 == "==stat==" { stat = 1; next }
    !stat { for (i = 1; i <= NF; i++) if ($i ~ /^\/proc\/[0-9]+\/exe$/) {
        split($i, p, "/"); exe[p[3]] = $NF } next }
    { line = $0; pid = $1; c = line; sub(/^[0-9]+ \(/, "", c); sub(/\) [A-Za-z] .*$/, "", c)
      sub(/^.*\) /, "", line); split(line, f, " ")
      gsub(/ /, "_", c); print pid, f[2], f[1], c, (pid in exe) ? exe[pid] : "-" }'
}

# memory LABEL: one line per svkit process (its /proc/PID/exe is $exe):
# "LABEL KIND PID RSS PSS ANON" in kB, KIND being svscan, supervise (a child of the
# scanner) or log (comm "log"). Appended to $work/mem.
memory() {
  procs | awk -v exe="$exe" -v root="$scanner" -v label="$1" '
    $5 != exe { next }
    { kind = ($1 == root) ? "svscan" : ($4 == "log") ? "log" : ($2 == root) ? "supervise" : "other"
      f = "/proc/" $1 "/smaps_rollup"; rss = pss = anon = -1
      while ((getline l < f) > 0) {
        split(l, w, " ")
        if (w[1] == "Rss:") rss = w[2]; else if (w[1] == "Pss:") pss = w[2]
        else if (w[1] == "Anonymous:") anon = w[2]
      }
      close(f)
      if (rss >= 0) print label, kind, $1, rss, pss, anon }' >> "$work/mem"
}

# zombies: "pid ppid" of every zombie below the scanner (its children and theirs).
zombies() {
  procs | awk -v root="$scanner" '
    { pp[$1] = $2; st[$1] = $3 }
    END { for (p in st) if (st[p] == "Z") {
            q = pp[p]; while (q + 0 > 1 && q != root) q = pp[q]
            if (q == root) print p, pp[p] } }' | sort
}

# twice: the services whose run script runs twice (two shells in one service dir).
twice() {
  sh_exe=$(readlink -f /bin/sh)
  ls -l /proc/[0-9]*/cwd /proc/[0-9]*/exe 2>/dev/null | awk -v sh="$sh_exe" -v scan="$scan/" '
    { for (i = 1; i <= NF; i++) if ($i ~ /^\/proc\/[0-9]+\/(cwd|exe)$/) { split($i, p, "/"); v[p[3], p[4]] = $NF; pid[p[3]] } }
    END { for (q in pid) if (v[q, "exe"] == sh && index(v[q, "cwd"], scan) == 1) {
            s = substr(v[q, "cwd"], length(scan) + 1); if (s !~ /\//) c[s]++ }
          for (s in c) if (c[s] > 1) print s, c[s] }'
}

# allup: 0 if every service and logger is supervised, up and not paused.
allup() {
  # svstat prints "DIR: up paused" for each supervised dir; the missing ones warn.
  ok=$("$cmd/svstat" -o up,paused $dirs 2>/dev/null | grep -c ': true false$' || true)
  [ "$ok" -eq $((2 * n)) ]
}
waitup() { # waitup SECONDS: every service wanted up and continued until allup, or fail
  t=$(($(now) + $1))
  # Sent again at each round: a supervisor killed in the last second comes back
  # with the service's down file in force, and misses the first round.
  until "$cmd/svc" -c -u $dirs 2>/dev/null || true; allup; do
    if [ "$(now)" -ge "$t" ]; then
      say "not every service came up within $1 s: $ok of $((2 * n)) up"
      return 1
    fi
    alive "$scanner" || { say "svscan died"; exit 1; }
    sleep 1
  done
}

# --- Start --------------------------------------------------------------------------
say "$n services, $secs s, $rate actions/s, seed $seed, work $work"
"$cmd/svscan" "$scan" > "$work/svscan.out" 2> "$work/svscan.err" &
scanner=$!
# The down-file services are wanted down at first: the start waits for the others.
t=$(($(now) + 120))
until [ "$("$cmd/svstat" -o up $dirs 2>/dev/null | grep -c ': true$' || true)" -eq \
  $((2 * n - $(find "$scan" -maxdepth 2 -name down | wc -l))) ]; do
  [ "$(now)" -lt "$t" ] || { say "the services did not come up within 120 s"; exit 1; }
  alive "$scanner" || { say "svscan died at start-up"; exit 1; }
  sleep 1
done
sleep 3 # let the first lines, readiness notifications and finish-less starts settle
memory start
start_procs=$(procs | awk -v root="$scanner" '{ pp[$1] = $2 } END {
  for (p in pp) { q = p; while (q + 0 > 1 && q != root) q = pp[q]; if (q == root) c++ } print c + 0 }')
say "all up; $(grep -c '^start ' "$work/mem") svkit processes measured; soaking for $secs s"

# --- The plan -----------------------------------------------------------------------
# awk draws RATE actions per second (a service and a kind, by weight) and prints
# "tick" after each second's worth. A "down" or "pause" schedules its "up" or "cont"
# 1 to 5 s later. The shell carries them out, sleeping 1 s at each tick, until the
# time is up.
awk -v seed="$seed" -v n="$n" -v secs="$secs" -v rate="$rate" -v w="$width" 'BEGIN {
  srand(seed)
  split("restart 18 term 8 kill 8 hup 4 down 8 pause 5 kill9 14 logkill9 8 logterm 5 logalrm 5 supkill9 3 logsupkill9 2 scanctl 3 usr1 3 once 2 sveq 4", a, " ")
  for (i = 1; i in a; i += 2) { k++; kind[k] = a[i]; tot += a[i + 1]; cum[k] = tot }
  for (t = 0; t < secs; t++) {
    if (t in later) printf "%s", later[t]
    for (j = 0; j < rate; j++) {
      s = sprintf("s%0" w "d", int(rand() * n) + 1)
      r = rand() * tot
      for (k = 1; cum[k] < r; k++) ;
      print kind[k], s
      back = t + 1 + int(rand() * 5)
      if (kind[k] == "down") later[back] = later[back] "up " s "\n"
      if (kind[k] == "pause") later[back] = later[back] "cont " s "\n"
    }
    print "tick", t
  }
}' > "$work/plan"

# act KIND: one action on service $s; counts it, and its failures.
count() { eval "c_$1=\$((\${c_$1:-0} + 1))"; }
svc() { "$cmd/svc" "$@" 2>/dev/null || { count "${kind}_fail"; return 0; }; }
kill9() { # kill9 PID DIR: SIGKILL PID if it still runs in DIR (a recycled pid is left alone)
  if [ "$1" -gt 0 ] 2>/dev/null && [ "$(readlink "/proc/$1/cwd" 2>/dev/null)" = "$2" ]; then
    kill -KILL "$1" 2>/dev/null || count "${kind}_fail"
  else
    count "${kind}_fail"
  fi
}
holder() { # holder DIR: the pid holding DIR/supervise/lock (its supervisor)
  ino=$(ls -i "$1/supervise/lock" 2>/dev/null | awk '{ print $1 }')
  [ -n "$ino" ] || { echo 0; return 0; }
  awk -v ino="$ino" '$2 == "POSIX" { split($6, d, ":"); if (d[3] == ino) { print $5; f = 1; exit } }
    END { if (!f) print 0 }' /proc/locks
}
act() {
  d=$scan/$s
  count "$kind"
  case $kind in
    restart) svc -r "$d" ;;
    term) svc -t "$d" ;;
    kill) svc -k "$d" ;;
    hup) svc -h "$d" ;;
    usr1) svc -1 "$d" ;;
    down) svc -d "$d" ;;
    up) svc -u "$d" ;;
    once) svc -o "$d" ;;                # runs now if down, not restarted: the end brings it up
    pause) svc -p "$d" ;;
    cont) svc -c "$d" ;;
    sveq) svc -du -r -u "$d" ;;         # several bytes in one write
    kill9) kill9 "$("$cmd/svstat" -o pid "$d" 2>/dev/null || echo 0)" "$d" ;;
    logkill9) kill9 "$("$cmd/svstat" -o pid "$d/log" 2>/dev/null || echo 0)" "$d/log" ;;
    logterm) svc -r "$d/log" ;;         # the logger drains what the pipe holds, then exits
    logalrm) svc -a "$d/log" ;;         # the logger rotates its logdir
    supkill9) kill9 "$(holder "$d")" "$d" ;; # svscan starts a new supervise, which stops
    logsupkill9) kill9 "$(holder "$d/log")" "$d/log" ;; # the orphan before starting anew
    scanctl) "$cmd/svscanctl" -az "$scan" 2>/dev/null || count "${kind}_fail" ;;
  esac
}

end=$(($(now) + secs))
dead=
while read -r kind s; do
  if [ "$kind" = tick ]; then
    alive "$scanner" || { dead="svscan died during the soak"; break; }
    [ "$(now)" -lt "$end" ] || break
    sleep 1
    continue
  fi
  act
done < "$work/plan"
[ -z "$dead" ] || { say "$dead"; tail -n 20 "$work/svscan.err" >&2; exit 1; }

# --- The end ------------------------------------------------------------------------
# Every service wanted up and running again, then the same measures as at the start,
# before anything is stopped.
fail=
if ! waitup 120; then
  fail="$fail services-not-up"
  "$cmd/svstat" $dirs 2>&1 | grep -v ': up (pid [0-9]*) [0-9]* seconds' | head -n 20 >&2 || true
fi
sleep 3
memory end
end_procs=$(procs | awk -v root="$scanner" '{ pp[$1] = $2 } END {
  for (p in pp) { q = p; while (q + 0 > 1 && q != root) q = pp[q]; if (q == root) c++ } print c + 0 }')
z1=$(zombies)
sleep 2
z2=$(zombies)
# A process is a zombie for a moment between its death and its reaping: only the ones
# still there 2 s later count.
zomb=$(printf '%s\n%s\n' "$z1" "$z2" | awk 'NF { c[$0]++ } END { for (z in c) if (c[z] > 1) print z }')
nzomb=$(printf '%s' "$zomb" | grep -c . || true)
dup_runs=$(twice)

# --- Stop ---------------------------------------------------------------------------
# svscanctl -t: services get SIGTERM, loggers drain their pipe to the end and exit.
"$cmd/svscanctl" -t "$scan"
t=$(($(now) + 60))
while alive "$scanner" && [ "$(now)" -lt "$t" ]; do sleep 0.2; done
if alive "$scanner"; then
  fail="$fail svscan-did-not-stop"
  scan_rc=timeout
else
  scan_rc=0
  wait "$scanner" || scan_rc=$?
  [ "$scan_rc" -eq 0 ] || fail="$fail svscan-exit-$scan_rc"
fi
scanner=
# A run killed by SIGTERM leaves its `sleep` behind for up to 2.5 s; anything else
# still running under the work directory after that was left behind.
t=$(($(now) + 5))
while [ -n "$(leftovers)" ] && [ "$(now)" -lt "$t" ]; do sleep 0.5; done
left=$(leftovers | wc -l)
[ "$left" -eq 0 ] || fail="$fail processes-left-behind"

# --- Log lines ----------------------------------------------------------------------
# Every logdir file (current, @*.s archives, @*.u interrupted rotations) and every
# run record: per (service, run), the numbers must be 1..max with none missing and
# none twice, and max must reach the last number the run recorded.
{
  echo "$work/stamped"
  find "$seqd" -type f
  find "$scan" -path '*/log/main/*' -type f \( -name current -o -name '@*' \)
} | awk -v pad="$pad" -v seqd="$seqd/" -v stamped="$work/stamped" '
  { f = $0 }
  f == stamped { while ((getline l < f) > 0) st[l] = 1; close(f); next }
  index(f, seqd) == 1 {
    k = substr(f, length(seqd) + 1); sub(/\./, " ", k)
    if ((getline l < f) > 0 && l + 0 > rec[k]) rec[k] = l + 0
    close(f); next }
  { n = split(f, p, "/"); svc = p[n - 3]
    while ((getline l < f) > 0) {
      m = split(l, w, " "); o = (w[1] ~ /^@[0-9a-f]+$/) ? 1 : 0
      if (m == 4 + o && w[1 + o] == svc && w[2 + o] == "finish") { fin++; continue }
      if (m != 4 + o || w[1 + o] != svc || w[2 + o] !~ /^[0-9]+\.[0-9]+$/ || w[3 + o] !~ /^[0-9]+$/ || w[4 + o] != pad) {
        bad++; if (bad <= 5) print "malformed line in " f ": " l > "/dev/stderr"; continue }
      k = svc " " w[2 + o]; q = w[3 + o] + 0; lines++
      if (++seen[k, q] > 1) { if (svc in st) sdup++; else dup++; continue }
      cnt[k]++; if (q > max[k]) max[k] = q
    }
    close(f) }
  END {
    for (k in cnt) { runs++; lost += max[k] - cnt[k] }
    for (k in rec) if (rec[k] > max[k]) { tail += rec[k] - max[k]; if (!(k in cnt)) runs++ }
    printf "%d %d %d %d %d %d %d\n", lines, runs, lost, tail, dup, sdup, bad + 0
    printf "%d\n", fin + 0 > "/dev/stderr" }' > "$work/lines" 2> "$work/lines.err"
read -r lines runs lost tail dup sdup bad < "$work/lines"
fin=$(tail -n 1 "$work/lines.err")
[ "$lost" -eq 0 ] && [ "$tail" -eq 0 ] || fail="$fail lost-lines"
[ "$dup" -eq 0 ] || fail="$fail duplicate-lines"
[ "$bad" -eq 0 ] || { fail="$fail malformed-lines"; head -n 5 "$work/lines.err" >&2; }
[ "$nzomb" -eq 0 ] || fail="$fail zombies"
[ -z "$dup_runs" ] || fail="$fail service-running-twice"
if grep -qiE 'panick|fatal' "$work/svscan.err"; then fail="$fail panic-or-fatal"; fi

# --- Memory -------------------------------------------------------------------------
# Per kind: count, total and max of RSS, PSS and Anonymous (heap, stacks: what a leak
# grows) in kB. Pids change with restarts, so kinds are compared, not pids; svscan
# keeps its pid. Thresholds, all on the private (anonymous) memory: a leak shows
# there, while RSS and PSS also count the pages of the shared binary, which grow as
# code paths run for the first time (finish, an orphan reclaimed, a rotation) and
# move with how many processes share them. A process touches a few more heap and
# stack pages the first time it restarts, stops or rotates (about 4 kB in 60 s runs),
# then stays flat. So:
#   svscan:          Anonymous at the end <= start + 10% + 128 kB (one process, which
#                    sees every supervisor's death and restart: its bookkeeping must
#                    not accumulate)
#   supervise, log:  mean Anonymous per process <= start mean + 10% + 16 kB (a leak
#                    per restart or per command raises the mean), and max Anonymous
#                    <= start max + 25% + 64 kB (one process that runs away)
# RSS and PSS are reported for reference; growth there alone does not fail the soak.
awk '
  { k = $2; c[$1, k]++; r[$1, k] += $4; p[$1, k] += $5; a[$1, k] += $6
    if ($4 > rm[$1, k]) rm[$1, k] = $4; if ($5 > pm[$1, k]) pm[$1, k] = $5; if ($6 > am[$1, k]) am[$1, k] = $6 }
  END {
    printf "%-10s %-6s %6s %10s %8s %10s %8s %10s %8s\n", "memory kB", "", "count", "RSS total", "RSS max", "PSS total", "PSS max", "Anon total", "Anon max"
    split("svscan supervise log other", kinds, " ")
    for (i = 1; i <= 4; i++) { k = kinds[i]; if (!c["start", k] && !c["end", k]) continue
      for (j = 1; j <= 2; j++) { l = (j == 1) ? "start" : "end"
        printf "%-10s %-6s %6d %10d %8d %10d %8d %10d %8d\n", (j == 1) ? k : "", l, c[l, k], r[l, k], rm[l, k], p[l, k], pm[l, k], a[l, k], am[l, k] }
      printf "%-10s %-6s %+6d %+10d %+8d %+10d %+8d %+10d %+8d\n", "", "growth", c["end", k] - c["start", k], r["end", k] - r["start", k], rm["end", k] - rm["start", k], p["end", k] - p["start", k], pm["end", k] - pm["start", k], a["end", k] - a["start", k], am["end", k] - am["start", k]
      bad = 0
      if (k == "svscan") bad = a["end", k] > a["start", k] * 1.1 + 128
      else if (k != "other" && c["start", k] && c["end", k]) {
        bad = a["end", k] / c["end", k] > a["start", k] / c["start", k] * 1.1 + 16
        bad = bad || am["end", k] > am["start", k] * 1.25 + 64 }
      if (bad) grew = grew " " k
    }
    if (grew != "") print "GREW" grew }' "$work/mem" > "$work/memtable"
if grep -q '^GREW' "$work/memtable"; then
  fail="$fail memory-growth($(sed -n 's/^GREW //p' "$work/memtable"))"
fi

# --- Summary ------------------------------------------------------------------------
actions=0
for k in restart term kill hup usr1 down up once pause cont sveq kill9 logkill9 logterm logalrm supkill9 logsupkill9 scanctl; do
  eval "c=\${c_$k:-0} f=\${c_${k}_fail:-0}"
  actions=$((actions + c))
done
cp "$work/svscan.err" "$out/svscan.err"
cp "$work/mem" "$out/memory.txt" # per process: start|end KIND PID RSS PSS ANON (kB)
{
  echo "svkit soak: $(date -u '+%Y-%m-%d %H:%M UTC'), $("$exe" --version 2>/dev/null | head -n 1 || echo svkit), $(uname -srm), $(nproc) CPUs"
  echo "services: $n (each with a logger), soak: $secs s, seed: $seed, actions: $actions"
  echo
  printf '%-10s %7s %7s   %s\n' action count failed "(failed: no such process or supervisor at that moment)"
  for k in restart term kill hup usr1 down up once pause cont sveq kill9 logkill9 logterm logalrm supkill9 logsupkill9 scanctl; do
    eval "c=\${c_$k:-0} f=\${c_${k}_fail:-0}"
    case $k in
      restart) what='svc -r' ;; term) what='svc -t' ;; kill) what='svc -k' ;; hup) what='svc -h' ;;
      usr1) what='svc -1' ;; down) what='svc -d' ;; up) what='svc -u (1-5 s after -d)' ;;
      once) what='svc -o' ;; pause) what='svc -p' ;; cont) what='svc -c (1-5 s after -p)' ;;
      sveq) what='svc -du -r -u' ;; kill9) what='kill -9 of the service' ;;
      logkill9) what='kill -9 of the logger' ;; logterm) what='svc -r of the logger' ;;
      logalrm) what='svc -a of the logger (rotation)' ;;
      supkill9) what="kill -9 of the service's supervise" ;;
      logsupkill9) what="kill -9 of the logger's supervise" ;; scanctl) what='svscanctl -az' ;;
    esac
    printf '%-10s %7d %7d   %s\n' "$k" "$c" "$f" "$what"
  done
  echo
  grep -v '^GREW' "$work/memtable"
  echo
  echo "processes under svscan: $start_procs at the start, $end_procs at the end"
  echo "zombies under svscan (still there after 2 s): $nzomb${zomb:+ (pid ppid: $(echo $zomb))}"
  echo "services running twice: ${dup_runs:-none}"
  echo "svscan exit: $scan_rc; processes left after it: $left"
  echo "log lines: $lines in $runs runs (and $fin lines from finish scripts)"
  echo "lost lines: $((lost + tail)) ($lost inside a run, $tail at the end of a run)"
  echo "doubled lines: $dup with plain loggers; $sdup with stamping loggers (allowed after their SIGKILL)"
  echo "malformed lines: $bad"
  echo "svscan stderr: $(wc -l < "$work/svscan.err") lines ($out/svscan.err); most common:"
  sed -E 's/[0-9]+/N/g' "$work/svscan.err" | sort | uniq -c | sort -rn | head -n 5
  echo
  if [ -z "$fail" ]; then echo "result: PASS"; else echo "result: FAIL:$fail"; fi
} > "$out/summary.txt"
cat "$out/summary.txt"
echo "(summary: $out/summary.txt)"
[ -z "$fail" ]

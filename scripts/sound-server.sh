#!/usr/bin/env bash
# The test sound server: PulseAudio with two null sinks that PortAudio reaches through ALSA `pulse`.
#
#   bash scripts/sound-server.sh up            start (idempotent), print one line
#   bash scripts/sound-server.sh down          release this caller's lease; stop when none is left
#   bash scripts/sound-server.sh down --force  stop whatever the leases say
#   bash scripts/sound-server.sh release       drop this caller's lease, never stop the server
#   bash scripts/sound-server.sh status        print one line; exit 0 only when fully up
#
# Sinks: `rt_sink` (24000 Hz mono s16le; default sink, its monitor the default source) and
# `rt_sink48` (48000 Hz stereo). PortAudio only lists the ALSA devices `pulse` and `default`;
# a stream opened on them goes to the sink/source named by $PULSE_SINK / $PULSE_SOURCE when the
# stream is opened (rt: device spec `pulse:rt_sink48`, see realtime_cli/audio/devices.py).
#
# Leases: several test runs may share one machine, so `up` records the caller's PID under
# $STATE/leases and `down` stops the server only when no other live caller holds a lease.
# Keep-alive `parec` readers on both monitors make the null sinks render in small blocks
# (without them the first capture callback came 0.4-2 s late on the CI machine). The block they
# ask for is the null sink's own "hardware buffer": audio rendered into it before a flush still
# reaches the monitor. At 10 ms the voice went on 1-10 ms after a barge-in dropped rt's stream
# buffer (the truncation point then 2 ms late on average, up to 8 ms); at 3 ms, -5..3 ms.
# PulseAudio logs to $STATE/pulse.log (the daemon once vanished mid-run; see tests/audio/conftest.py).
set -uo pipefail

STATE="${RT_SOUND_STATE:-/tmp/rt-sound}"
LEASES="$STATE/leases"
SINKS=("rt_sink:24000:1" "rt_sink48:48000:2")
CALLER="${RT_SOUND_LEASE:-$PPID}"
KEEPALIVE_MS=3

die() { echo "sound-server: $*" >&2; exit 1; }

pa_ready() { pactl info >/dev/null 2>&1; }

has_sink() { pactl list short sinks 2>/dev/null | awk '{print $2}' | grep -qx "$1"; }

# Running, not a zombie: PID 1 here does not reap orphans, so a daemon or keep-alive that died
# after its starter exited stays a zombie, which `kill -0` still finds.
alive() {
  local stat
  [ -n "${1:-}" ] && stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != "Z" ]
}

keepalives_ok() {
  local spec name
  for spec in "${SINKS[@]}"; do
    name="${spec%%:*}"
    alive "$(cat "$STATE/parec-$name.pid" 2>/dev/null)" || return 1
  done
}

fully_up() {
  local spec
  pa_ready || return 1
  for spec in "${SINKS[@]}"; do has_sink "${spec%%:*}" || return 1; done
  keepalives_ok
}

clear_stale_pid() {
  # A daemon killed outright (SIGKILL: the kernel sends it at RLIMIT_RTTIME) leaves its PID file,
  # which makes `pulseaudio --start` say "Daemon already running" while nothing answers.
  local f
  for f in "${XDG_RUNTIME_DIR:-/nonexistent}/pulse/pid" "$HOME"/.config/pulse/*-runtime/pid; do
    [ -f "$f" ] && ! alive "$(cat "$f" 2>/dev/null)" && rm -f "$f"
  done
  return 0
}

start_daemon() {
  command -v pulseaudio >/dev/null || die "pulseaudio is not installed (make system-deps)"
  command -v pactl >/dev/null || die "pactl is not installed (pulseaudio-utils)"
  clear_stale_pid
  local out flags=(--exit-idle-time=-1 --disallow-exit --log-target="newfile:$STATE/pulse.log")
  out=$(pulseaudio --start "${flags[@]}" 2>&1) || {
    out=$(pulseaudio -D --system=false "${flags[@]}" 2>&1) ||
      die "pulseaudio would not start: $( { echo "$out"; grep '^E:' "$STATE/pulse.log" 2>/dev/null; } | grep -v 'not intended to be run as root' | tail -1)"
  }
  for _ in $(seq 1 100); do pa_ready && return 0; sleep 0.05; done
  die "pulseaudio started but pactl info does not answer after 5 s"
}

load_sinks() {
  local spec name rate ch module loaded
  # A suspended null sink resumes late and renders in big blocks: keep everything running.
  # The restore modules would bring back a volume or a mute saved in an earlier run (all ALSA
  # streams of one Python share a name, so a test that muted one stream muted every later one).
  loaded=$(pactl list short modules | awk '{print $2}')
  for module in module-suspend-on-idle module-stream-restore module-device-restore; do
    if grep -qx "$module" <<<"$loaded"; then
      pactl unload-module "$module" >/dev/null 2>&1 || true
    fi
  done
  for spec in "${SINKS[@]}"; do
    IFS=: read -r name rate ch <<<"$spec"
    has_sink "$name" && continue
    pactl load-module module-null-sink "sink_name=$name" "rate=$rate" "channels=$ch" \
      format=s16le "sink_properties=device.description=$name" >/dev/null ||
      die "could not load the null sink $name"
  done
  pactl set-default-sink rt_sink || die "could not set the default sink"
  pactl set-default-source rt_sink.monitor || die "could not set the default source"
}

start_keepalives() {
  local spec name rate ch pidfile
  for spec in "${SINKS[@]}"; do
    IFS=: read -r name rate ch <<<"$spec"
    pidfile="$STATE/parec-$name.pid"
    alive "$(cat "$pidfile" 2>/dev/null)" && continue
    # Native format, so PulseAudio does not resample for the keep-alive. No inherited fds: a
    # caller under `flock LOCK` would otherwise leave its lock held by the keep-alive for good.
    nohup parec --latency-msec="$KEEPALIVE_MS" --rate="$rate" --channels="$ch" --format=s16le \
      -d "$name.monitor" >/dev/null 2>"$STATE/parec-$name.log" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
    echo $! >"$pidfile"
  done
  sleep 0.1
  keepalives_ok || die "parec keep-alive exited: $(tail -1 "$STATE"/parec-*.log 2>/dev/null)"
}

live_leases_except() {
  local f pid n=0
  for f in "$LEASES"/*; do
    [ -e "$f" ] || continue
    pid="${f##*/}"
    if [ "$pid" = "$1" ]; then continue; fi
    if alive "$pid"; then n=$((n + 1)); else rm -f "$f"; fi
  done
  echo "$n"
}

stop_keepalives() {
  local f
  for f in "$STATE"/parec-*.pid; do
    [ -e "$f" ] || continue
    alive "$(cat "$f")" && kill "$(cat "$f")" 2>/dev/null
    rm -f "$f"
  done
}

stop_all() {
  stop_keepalives
  if pa_ready; then pulseaudio --kill 2>/dev/null || true; fi
  for _ in $(seq 1 40); do pa_ready || break; sleep 0.05; done
  rm -f "$LEASES"/*
}

cmd_up() {
  mkdir -p "$LEASES" || die "cannot create $STATE"
  touch "$LEASES/$CALLER"
  if fully_up; then echo "sound server already up (rt_sink 24 kHz mono, rt_sink48 48 kHz stereo)"; return 0; fi
  if ! pa_ready; then
    stop_keepalives  # readers of a daemon that died: they are on their way out too
    start_daemon
  fi
  local loaded=0 spec
  for spec in "${SINKS[@]}"; do has_sink "${spec%%:*}" || loaded=1; done
  load_sinks
  start_keepalives
  # A null sink loaded before any low-latency reader renders its first block of up to 2 s. A
  # capture stream opened inside that window gets an input delay estimate off by 0.2-0.55 s
  # (measured: outputs are fine, monitor ADC times are not), so let that first block pass.
  [ "$loaded" -eq 1 ] && sleep 2
  echo "sound server up (rt_sink 24 kHz mono, rt_sink48 48 kHz stereo)"
}

cmd_down() {
  local others
  rm -f "$LEASES/$CALLER" 2>/dev/null
  if [ "${1:-}" != "--force" ]; then
    others=$(live_leases_except "$CALLER")
    if [ "$others" -gt 0 ]; then echo "sound server kept up ($others other user(s))"; return 0; fi
  fi
  stop_all
  echo "sound server down"
}

cmd_release() {
  rm -f "$LEASES/$CALLER" 2>/dev/null
  echo "sound server lease released"
}

cmd_status() {
  if fully_up; then echo "sound server up"; else echo "sound server down"; return 1; fi
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down "${2:-}" ;;
  release) cmd_release ;;
  status) cmd_status ;;
  *) die "usage: sound-server.sh up|down [--force]|release|status" ;;
esac

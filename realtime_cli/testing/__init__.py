"""Test rigs shipped with rt, for its test suite and its benchmarks (`make bench`).

Nothing in rt's own run path imports this package. The rigs drive rt from the outside on the
test sound server (its PulseAudio null sinks, see scripts/sound-server.sh):

    monitor.py     what reached a null sink, and when (`MonitorRecorder`, `Trace`, `locate`)
    echo_room.py   a simulated room: rt's speaker leaks into rt's microphone (`EchoRoom`)
    talk.py        `rt talk` as a process on the null sinks, an in-process `rt serve`, speech
"""

"""The bot's media plane: ICE scoping, peer connection, paced sources, encoded-frame tap,
VAD and signal analysis, call-quality maths (`quality`), RTP figures in explicit units
(`rtpstats`) and round-trip markers (`markers`) (DTMF is a client API matter:
`agent.infinity`).

Independent of the REST signalling: the call layer hands SDP strings in and out, and the
node's mixer reuses the same blocks.
"""

"""The bot's media plane: ICE scoping, peer connection, paced sources, encoded-frame tap,
VAD, DTMF validation and signal analysis.

Independent of the REST signalling: the call layer hands SDP strings in and out, and the
node's mixer reuses the same blocks.
"""

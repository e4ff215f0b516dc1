"""Symbolic pickle analysis: the opcode interpreter and the callable allowlists."""

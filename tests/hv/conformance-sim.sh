#!/bin/sh
# The hv conformance suite against the sim driver and a real test guest.
exec "${XM_BUILDDIR:-.}/tests/hv/test_hv_conformance" sim

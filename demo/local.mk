# demo/: xm-hv-demo, a live look at a test guest under a hypervisor driver:
# heartbeats and pages written next to the dirty rate the hypervisor sees.
# (XM_PKGDATADIR, where it finds the installed guest, comes from
# AM_CPPFLAGS.)
bin_PROGRAMS += demo/xm-hv-demo
demo_xm_hv_demo_SOURCES = demo/hv_demo.c
demo_xm_hv_demo_LDADD = $(HV_LIBS)

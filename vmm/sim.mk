# vmm/sim.mk - the sim engine's dirty log (userfaultfd write protection +
# PAGEMAP_SCAN, vmm/vmm_wplog.c) and its unit test.  Included after
# vmm/local.mk, whose xm-vmm it extends.

vmm_xm_vmm_SOURCES += vmm/vmm_wplog.h vmm/vmm_wplog.c

SIM_UNIT_TESTS = tests/unit/vmm/test_sim_dirty

check_PROGRAMS += $(SIM_UNIT_TESTS)
TESTS += $(SIM_UNIT_TESTS)
UNIT_TESTS += $(SIM_UNIT_TESTS)

tests_unit_vmm_test_sim_dirty_SOURCES = tests/unit/vmm/test_sim_dirty.c \
	vmm/vmm_wplog.c vmm/vmm_wplog.h tests/tap.h
tests_unit_vmm_test_sim_dirty_LDADD = common/libxt.a

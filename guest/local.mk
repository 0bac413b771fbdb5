# guest/: the test guest, a 32-bit Multiboot ELF of freestanding x86-64 code
# (docs/specs/guest-abi.md), and its workload, which the sim engine and the
# unit test also build hosted (workload.c needs nothing from its host but
# what struct xmg_env passes it).
#
# The guest has flags of its own, not CFLAGS/AM_CFLAGS: a sanitizer or
# coverage build must not reach freestanding ring-3 code.  Its objects are
# named g-*.o so they never meet the hosted workload.o.

GUEST_CC_FLAGS = -std=gnu11 -O2 -m64 -ffreestanding -fno-pic -fno-pie \
	-fno-stack-protector -fno-asynchronous-unwind-tables \
	-fno-unwind-tables -fcf-protection=none -mno-red-zone -mno-mmx \
	-mno-avx -nostdlib $(WARN_CFLAGS) -I$(top_srcdir)/guest
GUEST_LINK_FLAGS = -m elf_x86_64 -nostdlib -static -z max-page-size=4096 \
	-z noexecstack
GUEST_OBJS = guest/g-boot.o guest/g-guest_main.o guest/g-workload.o \
	guest/g-virtio_blk.o guest/g-libc.o
GUEST_INCLUDES = $(top_srcdir)/guest/xmg_abi.h $(top_srcdir)/guest/boot.h \
	$(top_srcdir)/guest/workload.h $(top_srcdir)/guest/virtio_blk.h

guest/g-boot.o: $(top_srcdir)/guest/boot.S $(GUEST_INCLUDES)
	$(AM_V_CC)$(MKDIR_P) guest && \
	$(CC) $(GUEST_CC_FLAGS) -c -o $@ $(top_srcdir)/guest/boot.S
guest/g-guest_main.o: $(top_srcdir)/guest/guest_main.c $(GUEST_INCLUDES)
	$(AM_V_CC)$(MKDIR_P) guest && \
	$(CC) $(GUEST_CC_FLAGS) -c -o $@ $(top_srcdir)/guest/guest_main.c
guest/g-workload.o: $(top_srcdir)/guest/workload.c $(GUEST_INCLUDES)
	$(AM_V_CC)$(MKDIR_P) guest && \
	$(CC) $(GUEST_CC_FLAGS) -c -o $@ $(top_srcdir)/guest/workload.c
guest/g-virtio_blk.o: $(top_srcdir)/guest/virtio_blk.c $(GUEST_INCLUDES)
	$(AM_V_CC)$(MKDIR_P) guest && \
	$(CC) $(GUEST_CC_FLAGS) -c -o $@ $(top_srcdir)/guest/virtio_blk.c
guest/g-libc.o: $(top_srcdir)/guest/libc.c
	$(AM_V_CC)$(MKDIR_P) guest && \
	$(CC) $(GUEST_CC_FLAGS) -c -o $@ $(top_srcdir)/guest/libc.c

# Linked as x86-64, then rewrapped as ELF32: Multiboot loaders (QEMU
# -kernel) take only 32-bit ELF.  The code bytes are the same.
guest/xm-guest.elf: $(GUEST_OBJS) $(top_srcdir)/guest/guest.ld
	$(AM_V_GEN)$(LD) $(GUEST_LINK_FLAGS) -T $(top_srcdir)/guest/guest.ld \
	    -o guest/xm-guest.elf64 $(GUEST_OBJS) && \
	$(OBJCOPY) -O elf32-i386 guest/xm-guest.elf64 $@

pkgdata_DATA += guest/xm-guest.elf
CLEANFILES += guest/xm-guest.elf guest/xm-guest.elf64 $(GUEST_OBJS)
EXTRA_DIST += guest/boot.S guest/boot.h guest/guest.ld guest/guest_main.c \
	guest/libc.c guest/virtio_blk.c guest/virtio_blk.h guest/workload.c \
	guest/workload.h guest/xmg_abi.h

check_PROGRAMS += tests/unit/guest/test_workload
tests_unit_guest_test_workload_SOURCES = tests/unit/guest/test_workload.c \
	guest/workload.c guest/workload.h guest/xmg_abi.h tests/tap.h
TESTS += tests/unit/guest/test_workload
UNIT_TESTS += tests/unit/guest/test_workload

check_PROGRAMS += tests/unit/guest/test_disk
tests_unit_guest_test_disk_SOURCES = tests/unit/guest/test_disk.c \
	guest/workload.c guest/workload.h guest/xmg_abi.h tests/tap.h
TESTS += tests/unit/guest/test_disk
UNIT_TESTS += tests/unit/guest/test_disk

# The disk workload on QEMU's legacy virtio-blk (skips without QEMU/KVM).
dist_check_SCRIPTS += tests/guest/qemu-disk.sh
TESTS += tests/guest/qemu-disk.sh

/*
 * boot.h - constants of the guest's boot code (guest/boot.S), as plain
 * numbers the assembler understands.  guest_main.c checks each against
 * xmg_abi.h at compile time, so the two cannot drift apart.
 */
#ifndef XMG_BOOT_H
#define XMG_BOOT_H

/* Multiboot v1 */
#define BOOT_MB_MAGIC           0x1badb002  /* in the header */
#define BOOT_MB_FLAGS           0x00000002  /* bit 1: want memory info */
#define BOOT_MB_EAX_MAGIC       0x2badb002  /* in EAX at entry */
#define BOOT_MBI_FLAGS          0           /* struct multiboot_info */
#define BOOT_MBI_MEM_UPPER      8           /* KiB above 1 MiB */
#define BOOT_MBI_CMDLINE        16
#define BOOT_MBI_F_MEM          0x01
#define BOOT_MBI_F_CMDLINE      0x04

/* xmg_abi.h, spelled for the assembler */
#define BOOT_ABI_VERSION        4
#define BOOT_HEADER_MAGIC       0x3154534555474d58
#define BOOT_HEADER_SIZE        72
#define BOOT_PARAMS_MAGIC_LO    0x41504d58
#define BOOT_PARAMS_MAGIC_HI    0x314d4152
#define BOOT_PARAMS_OFF_MAGIC   0
#define BOOT_PARAMS_OFF_MEM     8
#define BOOT_PARAMS_OFF_TSC_KHZ 16
#define BOOT_PARAMS_OFF_CMDLINE 64
#define BOOT_CMDLINE_MAX        1024
#define BOOT_PAGE_SIZE          4096
#define BOOT_PT_PDS             16
#define BOOT_PT_PAGES           (2 + BOOT_PT_PDS)
#define BOOT_SEL_CODE64_K       0x08
#define BOOT_SEL_DATA_K         0x10
#define BOOT_SEL_CODE64_U       0x1b
#define BOOT_SEL_DATA_U         0x23
#define BOOT_SEL_TSS            0x28
#define BOOT_TSS_LIMIT          (104 + 8192)    /* last byte: the 0xff */
#define BOOT_PORT_CONSOLE       0xe9
#define BOOT_PORT_EXIT          0xec
#define BOOT_EXIT_BAD_PARAMS    1

/* Our own */
#define BOOT_STACK_SIZE         32768

#ifndef __ASSEMBLER__
/* The C entry, called by entry64 in ring 3; never returns. */
void xmg_guest_main(void);
#endif

#endif /* XMG_BOOT_H */

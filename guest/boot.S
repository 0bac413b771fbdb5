/*
 * boot.S - the test guest's headers, its ring-0 Multiboot prologue and its
 * 64-bit ring-3 entry (docs/specs/guest-abi.md).
 *
 * Two ways in:
 *   _start   a Multiboot v1 loader (QEMU -kernel, GRUB) in 32-bit protected
 *            mode, paging off.  The prologue fills xmg_params from the
 *            Multiboot information, builds the identity page tables, enters
 *            long mode and irets to entry64 in ring 3.  Ring-0 code is
 *            emulated on our platform (~1 us per instruction), so it does
 *            as little as it can: a few thousand instructions in all.
 *   entry64  our VMM, which does all of the above itself and starts the
 *            vCPU here, in 64-bit ring 3.  Nothing below entry64 may rely
 *            on the prologue having run.
 */
#include "boot.h"

#define CR0_PE          0x00000001
#define CR0_MP          0x00000002
#define CR0_EM          0x00000004
#define CR0_TS          0x00000008
#define CR0_NE          0x00000020
#define CR0_PG          0x80000000
#define CR4_PAE         0x00000020
#define CR4_OSFXSR      0x00000200
#define CR4_OSXMMEXCPT  0x00000400
#define MSR_EFER        0xc0000080
#define EFER_LME        0x00000100
#define PTE_PWU         0x007           /* present, writable, user */
#define PTE_PS          0x080           /* 2 MiB page */
#define PD_ENTRIES      512
#define PAGE_2M         0x200000
#define RFLAGS_RING3    0x3002          /* IOPL 3, bit 1; IF clear */

        .section .text.boot, "ax"

/* ---- headers: both must lie near the start of the image ----------------- */

        .code32
        .balign 4
multiboot_header:
        .long   BOOT_MB_MAGIC
        .long   BOOT_MB_FLAGS
        .long   -(BOOT_MB_MAGIC + BOOT_MB_FLAGS)

        .balign 8
        .globl  xmg_header
xmg_header:
        .quad   BOOT_HEADER_MAGIC
        .long   BOOT_ABI_VERSION
        .long   BOOT_HEADER_SIZE
        .quad   entry64
        .quad   stack_top
        .quad   xmg_params
        .quad   xmg_status
        .quad   boot_pt
        .quad   image_end
        .quad   boot_tss
xmg_header_end:
        .if     xmg_header_end - xmg_header - BOOT_HEADER_SIZE
        .error  "struct xmg_header and boot.S disagree"
        .endif

/* ---- the Multiboot prologue: ring 0, 32-bit, paging off ------------------ */

/* In: EAX = Multiboot magic, EBX = Multiboot information (physical). */
        .globl  _start
_start:
        cli
        cld
        movl    $stack_top, %esp
        cmpl    $BOOT_MB_EAX_MAGIC, %eax
        jne     bad_magic

        /* params: magic, tsc_khz 0 (unknown), mem_bytes */
        movl    $BOOT_PARAMS_MAGIC_LO, xmg_params + BOOT_PARAMS_OFF_MAGIC
        movl    $BOOT_PARAMS_MAGIC_HI, xmg_params + BOOT_PARAMS_OFF_MAGIC + 4
        movl    $0, xmg_params + BOOT_PARAMS_OFF_TSC_KHZ
        movl    $0, xmg_params + BOOT_PARAMS_OFF_TSC_KHZ + 4
        movl    $PD_ENTRIES, %ebp       /* 2 MiB pages to map: 1 GiB ... */
        testb   $BOOT_MBI_F_MEM, BOOT_MBI_FLAGS(%ebx)
        jz      1f
        movl    BOOT_MBI_MEM_UPPER(%ebx), %eax
        addl    $1024, %eax             /* KiB from address 0 */
        movl    %eax, %edx
        shll    $10, %eax
        shrl    $22, %edx
        movl    %eax, xmg_params + BOOT_PARAMS_OFF_MEM
        movl    %edx, xmg_params + BOOT_PARAMS_OFF_MEM + 4
        movl    BOOT_MBI_MEM_UPPER(%ebx), %ebp  /* ... or all RAM, rounded */
        addl    $(1024 + 2047), %ebp    /* up to 2 MiB, at most what the */
        shrl    $11, %ebp               /* page directories hold */
        cmpl    $(BOOT_PT_PDS * PD_ENTRIES), %ebp
        jbe     1f
        movl    $(BOOT_PT_PDS * PD_ENTRIES), %ebp
1:
        /* params.cmdline: the Multiboot command line, less its first word
         * when that has no '=' (the kernel's path: GRUB and QEMU put it
         * first), truncated to BOOT_CMDLINE_MAX - 1 bytes. */
        movl    $(xmg_params + BOOT_PARAMS_OFF_CMDLINE), %edi
        testb   $BOOT_MBI_F_CMDLINE, BOOT_MBI_FLAGS(%ebx)
        jz      5f
        movl    BOOT_MBI_CMDLINE(%ebx), %esi
        movl    %esi, %edx
2:      movb    (%edx), %al
        cmpb    $'=', %al
        je      4f                      /* a parameter: keep it */
        testb   %al, %al
        jz      3f
        cmpb    $' ', %al
        je      3f
        incl    %edx
        jmp     2b
3:      movl    %edx, %esi              /* skip the path */
4:      movl    $(BOOT_CMDLINE_MAX - 1), %ecx
6:      movb    (%esi), %al
        testb   %al, %al
        jz      5f
        movb    %al, (%edi)
        incl    %esi
        incl    %edi
        decl    %ecx
        jnz     6b
5:      movb    $0, (%edi)

        /* Identity page tables in boot_pt (zero, it is bss): PML4, PDPT,
         * then BOOT_PT_PDS page directories, contiguous, so the 2 MiB
         * entries form one array. */
        movl    $(boot_pt + BOOT_PAGE_SIZE + PTE_PWU), boot_pt
        movl    $(boot_pt + 2 * BOOT_PAGE_SIZE + PTE_PWU), %eax
        movl    $(boot_pt + BOOT_PAGE_SIZE), %edi
        movl    $BOOT_PT_PDS, %ecx
7:      movl    %eax, (%edi)
        addl    $BOOT_PAGE_SIZE, %eax
        addl    $8, %edi
        decl    %ecx
        jnz     7b
        movl    $(boot_pt + 2 * BOOT_PAGE_SIZE), %edi
        movl    $(PTE_PS + PTE_PWU), %eax
        xorl    %edx, %edx              /* bits 32-63 of the address */
8:      movl    %eax, (%edi)
        movl    %edx, 4(%edi)
        addl    $8, %edi
        addl    $PAGE_2M, %eax
        adcl    $0, %edx
        decl    %ebp
        jnz     8b

        /* Long mode, with SSE usable (the C code may use it). */
        movl    $boot_pt, %eax
        movl    %eax, %cr3
        movl    %cr4, %eax
        orl     $(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
        movl    %eax, %cr4
        movl    $MSR_EFER, %ecx
        rdmsr
        orl     $EFER_LME, %eax
        wrmsr
        movl    %cr0, %eax
        andl    $~(CR0_EM | CR0_TS), %eax
        orl     $(CR0_PG | CR0_NE | CR0_MP | CR0_PE), %eax
        movl    %eax, %cr0
        /* The TSS descriptor's base (the assembler cannot split a
         * relocatable address into its fields). */
        movl    $boot_tss, %eax
        movw    %ax, gdt_tss + 2
        shrl    $16, %eax
        movb    %al, gdt_tss + 4
        movb    %ah, gdt_tss + 7
        lgdt    gdt_desc
        ljmp    $BOOT_SEL_CODE64_K, $long_mode

        .code64
long_mode:
        movl    $BOOT_SEL_DATA_K, %eax
        movw    %ax, %ss
        movl    $stack_top, %esp        /* bits 63-32 of RSP: zero */
        lidt    idt_desc                /* none: a fault is a shutdown */
        movl    $BOOT_SEL_TSS, %eax     /* ring 3 may use every port */
        ltr     %ax
        movl    $BOOT_SEL_DATA_U, %eax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %fs
        movw    %ax, %gs
        /* iretq to entry64 in ring 3, as our VMM would start us */
        pushq   $BOOT_SEL_DATA_U
        pushq   $stack_top
        pushq   $RFLAGS_RING3
        pushq   $BOOT_SEL_CODE64_U
        pushq   $entry64
        iretq

        .code32
bad_magic:
        movl    $bad_magic_msg, %esi
        movw    $BOOT_PORT_CONSOLE, %dx
1:      lodsb
        testb   %al, %al
        jz      2f
        outb    %al, %dx
        jmp     1b
2:      movl    $BOOT_EXIT_BAD_PARAMS, %eax
        movw    $BOOT_PORT_EXIT, %dx
        outl    %eax, %dx
3:      hlt
        jmp     3b

bad_magic_msg:
        .asciz  "xm-guest: not started by a Multiboot loader\n"

/* Accessed bits preset: the CPU need not write the table. */
        .balign 8
gdt:
        .quad   0
        .quad   0x00af9b000000ffff      /* 0x08: 64-bit code, DPL 0 */
        .quad   0x00cf93000000ffff      /* 0x10: data, DPL 0 */
        .quad   0x00affb000000ffff      /* 0x18: 64-bit code, DPL 3 */
        .quad   0x00cff3000000ffff      /* 0x20: data, DPL 3 */
gdt_tss:                                /* 0x28: 64-bit TSS, base set at */
        .word   BOOT_TSS_LIMIT & 0xffff /* run time */
        .word   0
        .byte   0
        .byte   0x89                    /* present, available 64-bit TSS */
        .byte   (BOOT_TSS_LIMIT >> 16) & 0x0f
        .byte   0
        .quad   0                       /* base 63-32: 0 */
gdt_end:
gdt_desc:
        .word   gdt_end - gdt - 1
        .long   gdt
idt_desc:
        .word   0
        .quad   0

/* ---- the 64-bit ring-3 entry --------------------------------------------- */

/* In: RSP = stack_top; params filled in; page tables, segments, TR and
 * control registers as docs/specs/guest-abi.md says. */
        .code64
        .text
        .globl  entry64
entry64:
        cld
        xorl    %ebp, %ebp
        andq    $-16, %rsp
        call    xmg_guest_main
1:      pause                           /* not reached */
        jmp     1b

/* ---- the TSS: only its I/O permission bitmap matters -------------------- */

/* Our platform checks ring-3 port I/O against the TSS I/O bitmap even with
 * IOPL 3, so the guest carries a TSS whose bitmap allows every port:
 * 104 bytes, the bitmap at offset 104 (8 KiB of zeros), then the 0xff byte
 * the CPU may read past the last port. */
        .data
        .balign 16
        .globl  boot_tss
boot_tss:
        .skip   102
        .word   104                     /* I/O map base */
        .skip   BOOT_PAGE_SIZE * 2      /* ports 0-0xffff: all allowed */
        .byte   0xff
boot_tss_end:
        .if     boot_tss_end - boot_tss - BOOT_TSS_LIMIT - 1
        .error  "BOOT_TSS_LIMIT and the TSS disagree"
        .endif

/* ---- pages: params, status, page tables, stack --------------------------- */

        .section .bss.xmg, "aw", @nobits
        .balign BOOT_PAGE_SIZE
        .globl  xmg_params
xmg_params:
        .skip   BOOT_PAGE_SIZE
        .globl  xmg_status
xmg_status:
        .skip   BOOT_PAGE_SIZE
boot_pt:
        .skip   BOOT_PT_PAGES * BOOT_PAGE_SIZE
        .skip   BOOT_STACK_SIZE
stack_top:

        .section .note.GNU-stack, "", @progbits

/*
 * kvm_tsc_khz.c - prints the TSC frequency, in kHz, that KVM gives a
 * vCPU (KVM_GET_TSC_KHZ on a throw-away VM), as our VMM reads it
 * (vmm/vmm_kvm.c) to fill the guest's params.tsc_khz.  bench_migrate.sh
 * passes it to the test guest under QEMU as tsc_khz=, so that both hosts
 * run the guest on the same clock.  Exit 1 (with the reason on stderr) if
 * KVM cannot say.
 */
#include "config.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(void)
{
    int kvm, vm = -1, vcpu = -1, r = -1;

    kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        perror("kvm_tsc_khz: /dev/kvm");
        return 1;
    }
    vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0)
        perror("kvm_tsc_khz: KVM_CREATE_VM");
    else if ((vcpu = ioctl(vm, KVM_CREATE_VCPU, 0)) < 0)
        perror("kvm_tsc_khz: KVM_CREATE_VCPU");
    else if ((r = ioctl(vcpu, KVM_GET_TSC_KHZ, 0)) <= 0)
        perror("kvm_tsc_khz: KVM_GET_TSC_KHZ");
    else
        printf("%d\n", r);
    if (vcpu >= 0)
        close(vcpu);
    if (vm >= 0)
        close(vm);
    close(kvm);
    return r > 0 ? 0 : 1;
}

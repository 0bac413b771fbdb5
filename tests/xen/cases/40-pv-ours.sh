# A PV domU live-migrated to localhost through hv_xen's opaque stream:
# libxenguest's xc_domain_save / xc_domain_restore (which canonicalise PV
# page tables) driven by our precopy policy, carried over our connection,
# finished by our commit handshake.
. "$SHARE/lib.sh"
ours_case pv1 pv 7004

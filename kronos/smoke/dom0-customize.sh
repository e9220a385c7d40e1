#!/bin/sh
# mmdebstrap's customize hook for the smoke dom0 (kronos/smoke/dom0.py): $1 is the root file system.
# What it writes is part of the dom0's content key: change it and the image is made again.
set -eu
root="$1"

echo kronos-dom0 >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tkronos-dom0\n' >"$root/etc/hosts"
printf '/dev/vda\t/\text4\trw,errors=remount-ro\t0\t1\n' >"$root/etc/fstab"
cat >"$root/etc/network/interfaces" <<'EOF'
auto lo
iface lo inet loopback

# net.ifnames=0 on the kernel command line keeps the name eth0; the address is the one QEMU's user
# network (kronos/smoke/vm.py NETWORK) would lease: no DHCP exchange in the boot
auto eth0
iface eth0 inet static
    address 10.0.2.15/24
    gateway 10.0.2.2
EOF

# The run's ssh key comes on the kernel command line (kronos.ssh_key=<type>:<base64>), so one image
# serves every run and no private key is ever in it.
cat >"$root/usr/local/sbin/kronos-ssh-key" <<'EOF'
#!/bin/sh
set -euf
key=
for word in $(cat /proc/cmdline); do
    case "$word" in
        kronos.ssh_key=*) key="${word#kronos.ssh_key=}" ;;
    esac
done
[ -n "$key" ] || exit 0
umask 077
mkdir -p /root/.ssh
printf '%s %s kronos-smoke\n' "${key%%:*}" "${key#*:}" >/root/.ssh/authorized_keys
EOF
chmod 0755 "$root/usr/local/sbin/kronos-ssh-key"
cat >"$root/etc/systemd/system/kronos-ssh-key.service" <<'EOF'
[Unit]
Description=Authorize the smoke run's ssh key from the kernel command line
ConditionKernelCommandLine=kronos.ssh_key
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/kronos-ssh-key

[Install]
WantedBy=multi-user.target
EOF
chroot "$root" systemctl enable kronos-ssh-key.service
# guests' consoles to /var/log/xen/console/guest-<name>.log, where the checks read their markers
mkdir -p "$root/var/log/xen/console"
echo 'XENCONSOLED_ARGS="--log=guest --log-dir=/var/log/xen/console"' >>"$root/etc/default/xen"

# a throwaway VM: no timers that fetch, index or trim while the checks run
chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer \
    fstrim.timer logrotate.timer dpkg-db-backup.timer
passwd --root "$root" --lock root >/dev/null

# our repository was reachable only while mmdebstrap ran (a copy under the host's /tmp)
rm -f "$root"/etc/apt/sources.list.d/*kronos.sources "$root/etc/apt/preferences.d/kronos.pref"
rm -f "$root"/var/cache/apt/archives/*.deb

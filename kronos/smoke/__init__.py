"""The smoke stage: boot our Xen with a PV dom0 in QEMU (TCG) from our own published repository.

published.py reads the published repository, dom0.py makes the dom0 disk image (content-keyed),
hypervisor.py takes Xen out of our .deb, sshkey.py makes the run's key pair, vm.py runs QEMU with
staged waits on the serial log, ssh.py talks to dom0."""

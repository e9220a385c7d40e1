#!/bin/sh
# Phase 1 (trusted, with network, as root): install the build dependencies of the
# source package in /kronos/src. The container is then committed as the build-deps layer.
# Environment: KRONOS_PROFILES (comma list), KRONOS_EXTRA_SOURCES (one "deb ..." line each),
# KRONOS_EXTRA_SUITES (their suite names, space separated, in order of preference).
# /kronos/local, when present: the siblings' repository (kronos/sibling_repo.py), signed with a
# key made for this run, verified by apt (Signed-By) and pinned above the archive.
set -eu
export DEBIAN_FRONTEND=noninteractive
if [ -n "${KRONOS_EXTRA_SOURCES:-}" ]; then
    printf '%s\n' "$KRONOS_EXTRA_SOURCES" > /etc/apt/sources.list.d/kronos-extra.list
fi
local_repo=/kronos/local
if [ -f "$local_repo/repo/InRelease" ]; then
    cp "$local_repo/kronos-local.sources" /etc/apt/sources.list.d/kronos-local.sources
    cp "$local_repo/kronos-local.pref" /etc/apt/preferences.d/kronos-local.pref
fi
apt-get update --error-on=any
set -- /kronos/src/*.dsc
profiles=""
if [ -n "${KRONOS_PROFILES:-}" ]; then profiles="-P $KRONOS_PROFILES"; fi
# A build dependency that no candidate satisfies but an extra suite does (a versioned one on
# a backport) is installed from that suite first, as sbuild's resolver does; apt then takes
# other packages from there only where that package needs them ("Selected version ...").
if [ -n "${KRONOS_EXTRA_SUITES:-}" ]; then
    from_extra=$(perl - "$1" <<'PERL'
use strict;
use warnings;
use Dpkg::Control;
use Dpkg::Deps;
use Dpkg::Version;
my $dsc = Dpkg::Control->new(type => CTRL_PKG_SRC);
$dsc->load($ARGV[0]);
my @profiles = split /,/, ($ENV{KRONOS_PROFILES} // '');
my @suites = split ' ', $ENV{KRONOS_EXTRA_SUITES};
my $text = join ', ', grep { defined && /\S/ }
    map { $dsc->{$_} } qw(Build-Depends Build-Depends-Arch Build-Depends-Indep);
my $deps = deps_parse($text, build_dep => 1, reduce_restrictions => 1, build_profiles => \@profiles)
    or die "kronos: cannot parse the build dependencies of $ARGV[0]\n";
sub fits {
    my ($dep, $version) = @_;
    return 0 unless defined $version;
    return 1 unless defined $dep->{relation};
    return version_compare_relation($version, $dep->{relation}, $dep->{version});
}
sub candidate {
    my ($name) = @_;
    for (qx(apt-cache policy \Q$name\E)) { return $1 if /^\s+Candidate:\s+(\S+)/ && $1 ne '(none)'; }
    return undef;
}
sub in_suite {  # the versions of name in suite, from apt-cache madison
    my ($name, $suite) = @_;
    my @found;
    for (qx(apt-cache madison \Q$name\E)) {
        my ($pkg, $version, $where) = map { s/^\s+|\s+$//gr } split /\|/;
        push @found, $version if $pkg eq $name && ((split ' ', $where // '')[1] // '') =~ m{^\Q$suite\E/};
    }
    return @found;
}
my %chosen;  # name -> [suite, version]
sub version_of {  # the version of name in suite, from apt-cache show name/suite
    my ($name, $suite) = @_;
    for (qx(apt-cache show \Q$name/$suite\E 2>/dev/null)) { return $1 if /^Version:\s+(\S+)/; }
    return undef;
}
sub depends_of {
    my ($name, $suite) = @_;
    my $stanza = join '', qx(apt-cache show \Q$name/$suite\E 2>/dev/null);
    $stanza =~ s/\n\n.*//s;  # the first stanza: that suite's version
    my @text;
    while ($stanza =~ /^(?:Pre-)?Depends:\s*(.*(?:\n[ \t].*)*)/mg) { push @text, $1; }
    return deps_parse(join(', ', @text), reduce_arch => 1);
}
my @todo = ($deps);
while (my $list = shift @todo) {
    CLAUSE: for my $clause ($list->get_deps()) {
        my @alternatives = $clause->isa('Dpkg::Deps::OR') ? $clause->get_deps() : ($clause);
        for my $dep (@alternatives) {
            my $have = $chosen{$dep->{package}} ? $chosen{$dep->{package}}[1] : candidate($dep->{package});
            next CLAUSE if fits($dep, $have) or (!defined $have and !defined $dep->{relation});
        }
        for my $dep (@alternatives) {
            for my $suite (@suites) {
                next unless grep { fits($dep, $_) } in_suite($dep->{package}, $suite);
                my $version = version_of($dep->{package}, $suite);
                next unless fits($dep, $version);
                $chosen{$dep->{package}} = [$suite, $version];
                push @todo, depends_of($dep->{package}, $suite) // ();
                next CLAUSE;
            }
        }
    }
}
print map { "$_/$chosen{$_}[0]\n" } sort keys %chosen;
PERL
)
    if [ -n "$from_extra" ]; then
        echo "kronos: from the extra suites: $(echo $from_extra)"
        # shellcheck disable=SC2086
        apt-get install -y --no-install-recommends $from_extra
    fi
fi
# shellcheck disable=SC2086
apt-get build-dep -y --no-install-recommends $profiles "$1"
apt-get clean
# the layer keeps the installed packages, not the run's repository, key or pin
rm -f /etc/apt/sources.list.d/kronos-local.sources /etc/apt/preferences.d/kronos-local.pref
rm -rf /kronos/src "$local_repo" /var/lib/apt/lists/*

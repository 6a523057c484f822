#!/usr/bin/env bash
# install.sh — cài trạm biên camnet (systemd) trên Debian 12 / Ubuntu 22.04 trở lên.
# Installs the camnet edge agent as a systemd service on Debian 12 / Ubuntu 22.04+.
#
#   sudo deploy/agent/install.sh [--source PATH_OR_SPEC] [--no-start]
#
# Chạy lại bao nhiêu lần cũng được: lần sau nâng cấp camnet, giữ nguyên agent.yaml.
# Safe to run again: a second run upgrades camnet and the unit and keeps agent.yaml.
# See docs/agent.md, "Cài đặt trên máy biên / Installing on an edge box".
set -eu
set -o pipefail
umask 0022 # the venv must stay readable by the camnet user whatever root's umask is

usage() {
    cat <<'EOF'
Cách dùng / usage: sudo deploy/agent/install.sh [--source PATH_OR_SPEC] [--no-start]

Cài camnet (extra "agent") vào /opt/camnet, tạo người dùng hệ thống camnet, chép
agent.example.yaml thành /etc/camnet/agent.yaml (nếu chưa có), cài và bật camnet-agent.service.
Installs camnet with the "agent" extra into /opt/camnet, creates the system user camnet,
copies agent.example.yaml to /etc/camnet/agent.yaml (only if absent), installs and enables
camnet-agent.service. Running it again upgrades; agent.yaml is never overwritten.

Options:
  --source PATH_OR_SPEC  what pip installs: a checkout or a wheel/sdist file (the "agent"
                         extra is added), or a pip requirement given as is, which must name
                         the extra, e.g. 'camnet[agent]==0.1.0'.
                         Default: the repository this script lives in.
  --no-start             install and enable the service, do not (re)start it
  -h, --help             this help

A fresh agent.yaml (copied from the example) is not started: edit it first, then
`systemctl start camnet-agent`. Otherwise the service is restarted so an upgrade takes effect.

Environment (tests, image builds):
  CAMNET_ROOT=DIR          prefix for /opt/camnet, /etc/camnet, /var/lib/camnet and
                           /etc/systemd/system (the unit itself still names the real paths)
  CAMNET_PYTHON=PATH       Python >= 3.11 that makes the venv (default: python3, python3.11…)
  CAMNET_PIP_ARGS="..."    extra arguments for pip install (split on spaces)
  CAMNET_OS_RELEASE=FILE   os-release file to check (default /etc/os-release)
  CAMNET_SKIP_APT=1        do not install Debian packages
  CAMNET_SKIP_USER=1       do not create the camnet user (and do not chown)
  CAMNET_SKIP_SYSTEMCTL=1  do not run systemctl
  CAMNET_SKIP_CHECK=1      do not run `camnet agent --check-config` on the installed config
EOF
}

say() { printf '==> %s\n' "$*"; }
warn() { printf 'CẢNH BÁO / WARNING: %s\n' "$*" >&2; }
die() {
    printf 'LỖI / ERROR: %s\n' "$*" >&2
    exit 1
}

# --- arguments ---------------------------------------------------------------------------
here=$(cd "$(dirname "$0")" && pwd)
source_spec="$here/../.."
no_start=0
while [ $# -gt 0 ]; do
    case $1 in
    --source)
        [ $# -ge 2 ] || die "--source cần một giá trị / --source needs a value"
        source_spec=$2
        shift 2
        ;;
    --source=*)
        source_spec=${1#--source=}
        shift
        ;;
    --no-start)
        no_start=1
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        printf 'Tuỳ chọn lạ / unknown option: %s\n\n' "$1" >&2
        usage >&2
        exit 2
        ;;
    esac
done

root=${CAMNET_ROOT:-}
root=${root%/}
skip_apt=${CAMNET_SKIP_APT:-0}
skip_user=${CAMNET_SKIP_USER:-0}
skip_systemctl=${CAMNET_SKIP_SYSTEMCTL:-0}
skip_check=${CAMNET_SKIP_CHECK:-0}
os_release=${CAMNET_OS_RELEASE:-/etc/os-release}

venv="$root/opt/camnet"
etc_dir="$root/etc/camnet"
config="$etc_dir/agent.yaml"
home_dir="$root/var/lib/camnet" # the camnet user's home
state_dir="$home_dir/agent"     # StateDirectory=camnet/agent in the unit
unit_dir="$root/etc/systemd/system"
unit=camnet-agent.service

# --- checks ------------------------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
    # Only a fully staged install (tests) can do without root.
    if [ -z "$root" ] || [ "$skip_apt" != 1 ] || [ "$skip_user" != 1 ] ||
        [ "$skip_systemctl" != 1 ]; then
        die "cần quyền root / must run as root: sudo $0"
    fi
fi

[ -r "$os_release" ] || die "không đọc được / cannot read $os_release: Debian 12 or Ubuntu 22.04+ only"
os_field() { # os_field NAME: NAME from os-release (shell assignments by definition)
    # shellcheck disable=SC1090
    (. "$os_release" && eval "printf '%s' \"\${$1:-}\"")
}
os_id=$(os_field ID)
os_like=$(os_field ID_LIKE)
os_version=$(os_field VERSION_ID)
os_major=${os_version%%.*}
case $os_id in
debian)
    case $os_major in
    '' | *[!0-9]*) ;; # testing/sid have no VERSION_ID
    *) [ "$os_major" -ge 12 ] || die "cần Debian 12 trở lên / needs Debian 12 or later (found $os_version)" ;;
    esac
    ;;
ubuntu)
    case $os_major in
    '' | *[!0-9]*) ;;
    *) [ "$os_major" -ge 22 ] || die "cần Ubuntu 22.04 trở lên / needs Ubuntu 22.04 or later (found $os_version)" ;;
    esac
    ;;
*)
    case " $os_like " in
    *" debian "* | *" ubuntu "*)
        warn "$os_id (like $os_like) is not tested; continuing as Debian/Ubuntu"
        ;;
    *) die "chỉ hỗ trợ Debian/Ubuntu / Debian or Ubuntu only (found ID=${os_id:-?})" ;;
    esac
    ;;
esac

python_ok() { # python_ok CMD: CMD is Python >= 3.11 (camnet's requires-python)
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1
}

# --- Debian packages ---------------------------------------------------------------------
if [ "$skip_apt" != 1 ]; then
    packages="python3 python3-venv python3-pip ca-certificates curl"
    # Ubuntu 22.04's python3 is 3.10; its universe has python3.11.
    if command -v python3 >/dev/null 2>&1 && ! python_ok python3; then
        packages="$packages python3.11 python3.11-venv"
    fi
    missing=""
    for p in $packages; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        say "Cài gói / installing Debian packages:$missing"
        apt-get update -qq
        # shellcheck disable=SC2086 # one word per package
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
    else
        say "Gói Debian đã đủ / Debian packages present"
    fi
fi

# --- the camnet user ---------------------------------------------------------------------
if [ "$skip_user" != 1 ]; then
    getent group camnet >/dev/null || groupadd --system camnet
    if ! getent passwd camnet >/dev/null; then
        say "Tạo người dùng hệ thống / creating system user camnet"
        useradd --system --gid camnet --home-dir /var/lib/camnet --no-create-home \
            --shell /usr/sbin/nologin --comment "camnet edge agent" camnet
    fi
fi

# --- directories -------------------------------------------------------------------------
install -d -m 0755 "$etc_dir" "$unit_dir"
install -d -m 0750 "$home_dir" "$state_dir"
if [ "$skip_user" != 1 ]; then
    # The agent may have been run by hand as root once: give its state back to camnet.
    chown camnet:camnet "$home_dir"
    chown -R camnet:camnet "$state_dir"
fi

# --- venv and camnet ---------------------------------------------------------------------
if [ -n "${CAMNET_PYTHON:-}" ]; then
    python=$CAMNET_PYTHON
    python_ok "$python" || die "CAMNET_PYTHON=$python is not Python >= 3.11"
else
    python=""
    for candidate in python3 python3.13 python3.12 python3.11; do
        if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
            python=$(command -v "$candidate")
            break
        fi
    done
    [ -n "$python" ] || die "không có Python >= 3.11 / no Python >= 3.11 (apt-get install python3.11 python3.11-venv)"
fi

# A venv whose pip no longer imports (its Python was upgraded by the distribution) is rebuilt.
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    say "Dùng lại venv / reusing the venv $venv"
else
    say "Tạo venv / creating the venv $venv with $python"
    "$python" -m venv --clear "$venv"
fi

if [ -e "$source_spec" ]; then
    # A path: make it absolute (pip needs a path-looking requirement) and add the extra.
    if [ -d "$source_spec" ]; then
        source_abs=$(cd "$source_spec" && pwd)
    else
        source_abs="$(cd "$(dirname "$source_spec")" && pwd)/$(basename "$source_spec")"
    fi
    requirement="${source_abs}[agent]"
else
    requirement=$source_spec
fi
read -r -a pip_args <<<"${CAMNET_PIP_ARGS:-}"
say "pip install $requirement"
PIP_ROOT_USER_ACTION=ignore "$venv/bin/python" -m pip install --disable-pip-version-check --upgrade \
    ${pip_args[@]+"${pip_args[@]}"} "$requirement"
[ -x "$venv/bin/camnet" ] || die "$venv/bin/camnet missing after pip install: is $requirement camnet?"
camnet_version=$("$venv/bin/python" -c 'from importlib.metadata import version; print(version("camnet"))')

# --- config and unit ---------------------------------------------------------------------
fresh_config=0
if [ -e "$config" ]; then
    say "Giữ nguyên cấu hình / keeping $config"
else
    say "Chép cấu hình mẫu / copying the example config to $config (0640, it holds passwords)"
    if [ "$skip_user" != 1 ]; then
        install -m 0640 -o root -g camnet "$here/agent.example.yaml" "$config"
    else
        install -m 0640 "$here/agent.example.yaml" "$config"
    fi
    fresh_config=1
fi

say "Cài unit / installing $unit_dir/$unit"
install -m 0644 "$here/$unit" "$unit_dir/$unit"

load_env_file() { # load_env_file FILE: export NAME=VALUE lines as systemd's EnvironmentFile=
    [ -r "$1" ] || return 0
    local line name value
    while IFS= read -r line || [ -n "$line" ]; do
        line=${line#"${line%%[![:space:]]*}"} # leading blanks
        case $line in *=*) ;; *) continue ;; esac # blank, comment or not NAME=VALUE
        name=${line%%=*}
        value=${line#*=}
        case $name in '' | *[!A-Za-z0-9_]* | [0-9]*) continue ;; esac
        case $value in
        \"*\") value=${value:1:${#value}-2} ;;
        \'*\') value=${value:1:${#value}-2} ;;
        esac
        export "$name=$value" # exported, never on a command line (ps would show it)
    done <"$1"
}

config_ok=1
if [ "$skip_check" != 1 ]; then
    say "Kiểm tra cấu hình / checking $config"
    check=("$venv/bin/camnet" agent --config "$config" --check-config)
    if [ "$skip_user" != 1 ] && command -v runuser >/dev/null 2>&1; then
        check=(runuser -u camnet -- "${check[@]}") # as the service will: can camnet read it?
    fi
    # With the service's environment: passwords written "env:NAME" come from agent.env.
    if (cd / && load_env_file "$etc_dir/agent.env" && "${check[@]}"); then
        :
    else
        status=$?
        [ "$status" -eq 2 ] || die "camnet đã cài không chạy được / the installed camnet does not run (exit $status)"
        config_ok=0
        warn "cấu hình sai, sửa theo các dòng trên / invalid config: fix the lines above"
    fi
fi

# --- systemd -----------------------------------------------------------------------------
started=0
if [ "$skip_systemctl" = 1 ]; then
    say "Bỏ qua systemctl / skipping systemctl (CAMNET_SKIP_SYSTEMCTL=1)"
elif [ ! -d /run/systemd/system ]; then
    warn "systemd không chạy ở đây / systemd is not running here: unit installed, not enabled (use deploy/agent/docker-compose.yml in containers)"
else
    systemctl daemon-reload
    systemctl enable "$unit"
    if [ "$no_start" = 1 ]; then
        say "Không khởi động / not started (--no-start)"
    elif [ "$fresh_config" = 1 ]; then
        say "Cấu hình mới từ mẫu: chưa khởi động / config fresh from the example: not started yet"
    elif [ "$config_ok" != 1 ]; then
        warn "không khởi động vì cấu hình sai / not (re)started: the config is invalid"
    elif systemctl restart "$unit"; then
        started=1
    else
        warn "khởi động lỗi / start failed: journalctl -u camnet-agent -n 50"
    fi
fi

# --- what next ---------------------------------------------------------------------------
config_note=""
[ "$fresh_config" != 1 ] || config_note=" (mới, từ mẫu / new, from the example)"
unit_note=""
[ "$started" != 1 ] || unit_note=" (đang chạy / running)"
cat <<EOF

Đã cài camnet $camnet_version / camnet $camnet_version installed:
  chương trình / program : $venv/bin/camnet
  cấu hình / config      : $config$config_note
  dữ liệu / state        : $state_dir
  dịch vụ / unit         : $unit_dir/$unit$unit_note

Việc tiếp theo (với quyền root) / next steps (as root):
  1. Sửa cấu hình / edit the config: agent_id, commune, mqtt (host, username, password,
     ca_file) và danh sách camera / and the cameras:
       editor $config
  2. Kiểm tra / check it (mỗi lỗi ghi dòng và cách sửa / each error names line and fix;
     mật khẩu "env:NAME" đọc từ / passwords "env:NAME" come from $etc_dir/agent.env):
       sh -c 'set -a; [ -r $etc_dir/agent.env ] && . $etc_dir/agent.env; set +a;
              exec runuser -u camnet -- $venv/bin/camnet agent --config $config --check-config'
  3. Chạy lại sau mỗi lần sửa / (re)start after every edit:
       systemctl restart camnet-agent
  4. Theo dõi / watch it:
       systemctl status camnet-agent
       journalctl -u camnet-agent -f
       curl -s 127.0.0.1:9108/metrics | grep camnet_agent
EOF

"""The probe instance's first-boot script: fping with cap_net_raw, cloudperf in a venv, the
token fetched from Secrets Manager whenever the agent starts, and a systemd unit for it.

Written for Ubuntu 24.04 (fping 5.1 and Python 3.12 from the archive). Every value that the
stack knows only at deploy time (bucket, key, region) arrives as a CloudFormation token in
the rendered text.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

UNIT_NAME = "cloudperf-probe.service"
VENV = "/opt/cloudperf"
TOKEN_FILE = "/run/cloudperf/token"  # noqa: S105 (a path, not a secret)


@dataclass(frozen=True)
class ProbeBoot:
    api_url: str
    region: str
    wheel_bucket: str
    wheel_key: str
    wheel_name: str
    token_secret_name: str


def render(boot: ProbeBoot) -> list[str]:
    """The user-data commands (bash), one string a line."""
    wheel_path = f"{VENV}/{boot.wheel_name}"
    probe_cmd = shlex.join(
        [f"{VENV}/bin/cloudperf", "probe", "--api", boot.api_url, "--token-file", TOKEN_FILE]
    )
    fetch_token = f"""#!{VENV}/bin/python
# Write the probe token from Secrets Manager to argv[1], readable by this user only.
import os, sys
import boto3
client = boto3.client("secretsmanager", region_name={boot.region!r})
token = client.get_secret_value(SecretId={boot.token_secret_name!r})["SecretString"].strip()
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, token.encode())
os.close(fd)
"""
    unit = f"""[Unit]
Description=cloudperf probe agent
Wants=network-online.target
After=network-online.target

[Service]
User=cloudperf
Environment=CLOUDPERF_FPING=/usr/bin/fping
RuntimeDirectory=cloudperf
RuntimeDirectoryMode=0700
StateDirectory=cloudperf
ExecStartPre={VENV}/bin/cloudperf-fetch-token {TOKEN_FILE}
ExecStart={probe_cmd}
Restart=always
RestartSec=10
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
"""
    download = (
        f"import boto3; boto3.client('s3', region_name={boot.region!r}).download_file("
        f"{boot.wheel_bucket!r}, {boot.wheel_key!r}, {wheel_path!r})"
    )
    return [
        "set -euxo pipefail",
        "export DEBIAN_FRONTEND=noninteractive",
        "apt-get update -q",
        "apt-get install -y -q fping python3-venv libcap2-bin",
        # Raw ICMP sockets for fping without root (fping 5.1 without it reports 100 % loss).
        "setcap cap_net_raw+ep /usr/bin/fping",
        "id cloudperf >/dev/null 2>&1 || useradd --system --home-dir /var/lib/cloudperf "
        "--shell /usr/sbin/nologin cloudperf",
        f"python3 -m venv {VENV}",
        f"{VENV}/bin/pip install --quiet boto3",
        f"{VENV}/bin/python -c {shlex.quote(download)}",
        f"{VENV}/bin/pip install --quiet {shlex.quote(wheel_path)}",
        f"cat > {VENV}/bin/cloudperf-fetch-token <<'PY'\n{fetch_token}PY",
        f"chmod 0755 {VENV}/bin/cloudperf-fetch-token",
        f"cat > /etc/systemd/system/{UNIT_NAME} <<'UNIT'\n{unit}UNIT",
        "systemctl daemon-reload",
        f"systemctl enable --now {UNIT_NAME}",
    ]

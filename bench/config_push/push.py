# Idempotent config push (the shared kit's pyinfra/push.py, dest under $STATE).
import os

from pyinfra import host
from pyinfra.operations import files

files.template(
    name="app.conf",
    src="app.conf.pyinfra.j2",
    dest=f"{os.environ['STATE']}/{host.name}/app.conf",
    mode="644",
)

# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-in for pip's get-pip.py bootstrap script, which ansible-test downloads from a host
this project's machines cannot reach. ansible-test runs it inside a new, pip-less venv with
pip's install arguments; ensurepip installs the pip bundled with this Python, and that pip
installs what was asked for from the package index."""

import subprocess
import sys

# get-pip.py's own options, which pip install does not know.
GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel"}

if __name__ == "__main__":
    # In a subprocess: ensurepip points PIP_CONFIG_FILE at /dev/null in its own process,
    # which would hide the machine's pip settings (index, certificates) from the install.
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))

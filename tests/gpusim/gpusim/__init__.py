# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gpusim: simulated NVIDIA GPUs for the fractional.gpu tests (see tests/gpusim/README.md)."""

# Copyright: fractional.gpu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# The two commands the README documents, and their parts.
.PHONY: demo test lab-up lab-down unit sanity lint ee molecule

demo:            ## bring the lab up and run playbooks/site.yml against it
	tests/scripts/demo.sh

test:            ## every test: sanity, lint, unit, Molecule on the lab
	tests/scripts/test.sh

lab-up:
	tests/scripts/test.sh lab-up

lab-down:
	tests/scripts/test.sh lab-down

unit sanity lint ee molecule:
	tests/scripts/test.sh $@

import { ipBatchErrors } from '../../images/speaker/netops';

describe('reading the failures of one `ip -force -batch -` of address adds', () => {
  it('gives each failed line its own error text, as iproute2 prints them', () => {
    // Measured: lines 2 (an address someone already put there) and 3 (no such interface) failed.
    const stderr =
      'Error: ipv4: Address already assigned.\nCommand failed -:2\nCannot find device "v9"\nCommand failed -:3\n';
    expect(ipBatchErrors(stderr)).toEqual(
      new Map([
        [2, 'Error: ipv4: Address already assigned.'],
        [3, 'Cannot find device "v9"'],
      ]),
    );
  });

  it('finds no failure in an empty stderr', () => {
    expect(ipBatchErrors('')).toEqual(new Map());
  });

  it('names a failed line without text as failed', () => {
    expect(ipBatchErrors('Command failed -:1\n')).toEqual(new Map([[1, 'failed']]));
  });
});

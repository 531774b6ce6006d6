/** The moment `seconds` after `at`: a lease's end, a claim window, a deadline, a member's suspect time. */
export const later = (at: Date, seconds: number): Date => new Date(at.getTime() + seconds * 1000);

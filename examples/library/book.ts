/** A book, in the class style: methods decide and `trigger` events, `apply` changes state. */
import { Aggregate, DomainError } from '../../src/index.js';
import { BookAdded, BookBorrowed, BookReturned, type BookEvent } from './events.js';

export class Book extends Aggregate<BookEvent> {
  /** Book `b1` lives in stream `book-b1`. */
  static override readonly streamType = 'book';

  title = '';
  onLoanTo: string | null = null;

  add(title: string) {
    if (this.version > 0) throw new DomainError(`book ${this.id} is already in the catalogue`, 'book_exists');
    this.trigger(BookAdded.create({ bookId: this.id, title }));
  }

  borrow(memberId: string, loanDays: number) {
    if (this.version === 0) throw new DomainError(`there is no book ${this.id} in the catalogue`, 'book_unknown');
    if (this.onLoanTo !== null) throw new DomainError(`book ${this.id} is on loan to ${this.onLoanTo}`, 'book_on_loan');
    this.trigger(BookBorrowed.create({ bookId: this.id, memberId, loanDays }));
  }

  giveBack() {
    if (this.onLoanTo === null) throw new DomainError(`book ${this.id} is not on loan`, 'book_not_on_loan');
    this.trigger(BookReturned.create({ bookId: this.id, memberId: this.onLoanTo }));
  }

  protected override apply(event: BookEvent) {
    switch (event.type) {
      case 'BookAdded':
        this.title = event.data.title;
        break;
      case 'BookBorrowed':
        this.onLoanTo = event.data.memberId;
        break;
      case 'BookReturned':
        this.onLoanTo = null;
        break;
    }
  }
}
